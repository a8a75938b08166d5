#include "commands/publish_layout.hpp"

#include <fmt/format.h>

#include "pipeline/pipeline.hpp"
#include "target/pg_table_reader.hpp"
#include "target/sql_params.hpp"
#include "util/log.hpp"

namespace c2p {

PublishResult publish_layout_collection(PgConnection &pg, const std::string &target, LayoutSink &sink,
                                        const CheckpointStore &store, const CollectionInfo &c,
                                        const std::string &staging, bool halfvec, size_t batch_size,
                                        uint64_t published_rows_if_done) {
    PublishResult res;
    if (auto load = store.load(pg, c.id); load && load->status == "done") {
        res.already_done = true;
        res.rows = published_rows_if_done;
        return res;
    }
    log::info("publish", fmt::format("collection '{}': moving its staged records into the layout's tables", c.name),
              {{"collection", c.name}});
    PgConnection reader_pg(target);
    // A plain sequential scan in the staging table's physical order (the source's), from its first page.
    reader_pg.exec("SET synchronize_seqscans = off");
    PgTableReadOptions ro;
    ro.schema = store.schema();
    ro.table = staging;
    ro.halfvec = halfvec;
    PgTableReader reader(reader_pg, ro, batch_size);
    // The rows, the load's end and the staging table's removal commit together.
    sink.before_commit([&](PgConnection &conn) {
        store.mark_done(conn, c.id);
        conn.exec("DROP TABLE IF EXISTS " + qualified(store.schema(), staging));
    });
    auto st = run_pipeline(c, reader, sink, nullptr);
    res.rows = st.records;
    res.index_seconds = sink.index_seconds();
    return res;
}

} // namespace c2p
