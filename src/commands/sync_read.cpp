#include "commands/sync_read.hpp"

#include <fmt/format.h>

#include "commands/live_reconcile.hpp"
#include "core/record_check.hpp"
#include "pipeline/pipeline.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace c2p {
namespace {

// The ids the live source holds now that the read did not see, in this transaction.
std::vector<std::string> missed_live_ids(PgConnection &pg, Source &source, const CollectionInfo &c,
                                         const std::string &seen_ids_sql) {
    auto live = source.live_ids(c);
    if (!live) return {};
    if (!live->consistent)
        throw EnvError(fmt::format("collection '{}' changed too fast to list its ids consistently (its records kept "
                                   "moving under the listing); nothing was changed: sync again",
                                   c.name));
    std::vector<std::string> out;
    for (auto &id : diff_against_listing(pg, std::move(live->ids), seen_ids_sql).missing)
        if (storable_id(id)) out.push_back(std::move(id));
    if (!out.empty())
        log::info("live_source", fmt::format("collection '{}': {} record(s) the read skipped or that were added during "
                                             "it: fetched by id",
                                             c.name, out.size()),
                  {{"collection", c.name}, {"fetched", out.size()}});
    return out;
}

} // namespace

void read_for_sync(PgConnection &pg, Source &source, const CollectionInfo &c, size_t batch_size, Sink &applier,
                   Progress &progress, const std::string &seen_ids_sql) {
    run_pipeline(c, *source.read(c, batch_size), applier, &progress);
    if (!source.live()) return;
    auto missed = missed_live_ids(pg, source, c, seen_ids_sql);
    if (missed.empty()) return;
    run_pipeline(c, *source.read_ids(c, std::move(missed), batch_size), applier, &progress);
}

} // namespace c2p
