#include "commands/dry_run.hpp"

#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "backup/manifest.hpp"
#include "backup/pickle_writer.hpp"
#include "commands/space_check.hpp"
#include "core/metadata_json.hpp"
#include "target/checkpoint_store.hpp"
#include "target/client_config.hpp"
#include "target/index_build.hpp"
#include "target/langchain_layout.hpp"
#include "target/layout_sink.hpp"
#include "target/size_estimate.hpp"
#include "target/table_layout.hpp"
#include "target/table_names.hpp"
#include "target/target_layout.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/utc_time.hpp"
#include "util/progress.hpp"

namespace c2p {

using json = nlohmann::ordered_json;

namespace {

// The sample the estimates are computed on: the first records, bounded in count and in vector bytes
// (a vector's size is exact from the dimension; the sample is for documents and metadata, and wide
// vectors read from a server cost a second or more per page).
constexpr uint64_t kSampleRecords = 2000;
constexpr uint64_t kSampleVectorBytes = 8ull << 20;
// zstd's ratio is measured on at most this much of each format's sample text.
constexpr size_t kZstdSampleBytes = 4u << 20;
// manifest.json: a fixed part plus about this much per data file.
constexpr uint64_t kManifestBase = 2048, kManifestPerFile = 400;

// Why the real run would stop; the dry run prints the plan first, then fails the same way.
struct Problem {
    ExitCode code;
    std::string message;
};

[[noreturn]] void raise(const Problem &p) {
    if (p.code == ExitCode::environment) throw EnvError(p.message);
    if (p.code == ExitCode::data) throw DataError(p.message);
    throw UsageError(p.message);
}

std::optional<uint32_t> dimension_of(const CollectionInfo &c, const RecordBatch &s) {
    if (c.dimension) return c.dimension;
    if (!s.empty()) return s.dim;
    return std::nullopt;
}

// The stored size (VARSIZE) of each JSON text as jsonb, computed by the server with a read-only query.
// Text the server refuses as jsonb (a record the run will reject: \u0000…) gets its JSON length instead.
std::vector<std::optional<uint32_t>> jsonb_sizes(PgConnection &pg, const std::vector<std::optional<std::string>> &texts) {
    std::vector<std::optional<uint32_t>> out;
    if (texts.empty()) return out;
    json arr = json::array();
    for (const auto &t : texts) arr.push_back(t ? json(*t) : json());
    try {
        auto r = pg.exec_params("SELECT pg_column_size(x::jsonb) FROM jsonb_array_elements_text($1::jsonb) WITH "
                                "ORDINALITY AS t(x, n) ORDER BY n",
                                {arr.dump(-1, ' ', false, json::error_handler_t::replace)});
        for (int i = 0; i < r.rows(); ++i)
            out.push_back(r.is_null(i, 0) ? std::nullopt : std::optional<uint32_t>(uint32_t(std::stoul(r.text(i, 0)))));
    } catch (const DataError &) {
        out.clear();
        for (const auto &t : texts)
            out.push_back(t ? std::optional<uint32_t>(uint32_t(t->size() + 4)) : std::nullopt);
    }
    out.resize(texts.size());
    return out;
}


std::string bytes_text(uint64_t b) { return human_bytes(double(b)); }

json index_json(const std::string &name, const std::string &kind, const std::string &method, const std::string &sql) {
    return {{"name", name}, {"kind", kind}, {"method", method}, {"sql", sql}};
}

// The vector index entry of the plan from the SQL the run would execute, with its parameters.
json vector_index_json(const std::string &name, const std::string &sql, const IndexOptions &o, const std::string &opclass,
                       const std::string &expression, uint64_t rows) {
    json j = index_json(name, "vector", o.method == IndexMethod::hnsw ? "hnsw" : "ivfflat", sql);
    json p = {{"opclass", opclass}, {"expression", expression}};
    if (o.method == IndexMethod::hnsw) {
        p["m"] = o.hnsw_m;
        p["ef_construction"] = o.hnsw_ef_construction;
    } else {
        p["lists"] = ivfflat_lists(o, rows);
    }
    j["parameters"] = p;
    return j;
}

// ---------------------------------------------------------------- migrate

struct CollectionPlan {
    json j;
    uint64_t estimate = 0;
};

// `resumed`: the collection's load in the interrupted run that --resume continues (the run neither
// refuses nor replaces it: it goes on where that run stopped).
CollectionPlan plan_target_collection(PgConnection &pg, Source &src, const CollectionInfo &c, const MigratePlanOptions &o,
                                      const LayoutOptions &lo, const std::optional<LoadRow> &resumed,
                                      std::vector<Problem> &problems) {
    RecordBatch s = sample_records(src, c, o.batch_size);
    auto dim = dimension_of(c, s);
    CollectionInfo ci = c;
    ci.dimension = dim;
    const uint64_t rows = std::max<uint64_t>(c.record_count, s.size());
    CollectionPlan out;
    json &j = out.j;
    j = {{"name", c.name}, {"id", c.id}, {"records", c.record_count}, {"dimension", dim ? json(*dim) : json()},
         {"space", space_name(c.space)}};
    json indexes = json::array();
    std::string action = "create";
    std::string load;
    uint64_t existing_rows = 0;
    try {
        LayoutPlan lp = target_layout(o.layout).plan(pg, ci, lo, rows);
        for (auto &p : lp.problems) problems.push_back({ExitCode::data, p});
        j["table"] = o.schema + "." + lp.table;
        if (!lp.shared_tables.empty()) j["shared_tables"] = lp.shared_tables;
        if (auto cc = client_config(o.layout, o.schema, lp.table, c)) j["client_config"] = cc->config;
        for (const auto &ix : lp.indexes)
            indexes.push_back(ix.kind == "vector" ? vector_index_json(ix.name, ix.sql, o.index.for_collection(c), ix.opclass,
                                                                      ix.expression, rows)
                                                  : index_json(ix.name, ix.kind, ix.method, ix.sql));
        existing_rows = lp.existing_rows;
        if (lp.exists) action = "replace";
        load = lp.load;
    } catch (const DataError &e) {
        problems.push_back({ExitCode::data, e.what()});
    }
    if (resumed) {
        action = "resume";
        j["resume"] = resumed->status == "done" ? "done in the interrupted run"
                                                : fmt::format("continues after {} committed records", resumed->committed_records());
    } else if (action == "replace" && !o.replace) {
        action = "refused";
        problems.push_back({ExitCode::usage, fmt::format("already migrated: '{}' ({}, {} rows); pass --replace to reload it "
                                                         "from the source, or run `chroma2pg sync` to apply only the changes",
                                                         c.name, j.value("table", std::string()), existing_rows)});
    }
    j["action"] = action;
    if (existing_rows > 0) j["existing_rows"] = existing_rows;
    // Every layout loads through the same checkpointed staging table (commands/migrate_run.cpp).
    j["staging"] = o.schema + "." + staging_table_name(c.name);
    j["checkpoint_records"] = o.checkpoint_records;
    j["load"] = load;

    TargetEstimate e = estimate_target(pg, ci, s, o);
    for (auto &ix : indexes) {
        std::string kind = ix["kind"];
        for (const auto &[k, bytes] : e.indexes)
            if (k == kind || (kind == "vector" && (k == "hnsw" || k == "ivfflat"))) ix["estimated_bytes"] = bytes;
    }
    j["indexes"] = indexes;
    uint64_t index_total = 0;
    for (const auto &[k, bytes] : e.indexes) index_total += bytes;
    j["estimated_bytes"] = {{"table", e.table}, {"toast", e.toast}, {"indexes", index_total}, {"total", e.total()}};
    j["sample_records"] = e.sample_records;
    out.estimate = e.total();
    return out;
}

std::string index_line(const json &ix) {
    std::string what = ix.value("sql", std::string());
    std::string size = ix.contains("estimated_bytes") ? "  ~" + bytes_text(ix["estimated_bytes"].get<uint64_t>()) : "";
    return fmt::format("  index   {}{}\n", what, size);
}

void print_space(std::string &out, const json &space) {
    for (const auto &sc : space) {
        std::string status = sc["status"];
        if (sc["free_bytes"].is_null())
            out += fmt::format("free space: {}: unknown ({}); needs {} (2 x the estimate)\n", sc["what"].get<std::string>(),
                               sc.value("note", std::string("cannot be measured")),
                               bytes_text(sc["needed_bytes"].get<uint64_t>()));
        else
            out += fmt::format("free space: {} {}: {} free, {} needed (2 x the estimate): {}\n", sc["what"].get<std::string>(),
                               sc["path"].get<std::string>(), bytes_text(sc["free_bytes"].get<uint64_t>()),
                               bytes_text(sc["needed_bytes"].get<uint64_t>()), status);
    }
}

// The totals, the free space and the problems, then the whole plan to stdout.
void print_plan_end(std::string &out, const json &plan, const char *where) {
    const json &t = plan["totals"];
    out += fmt::format("\ntotal: {} records in {} collection(s), estimated {} {}\n", t["records"].get<uint64_t>(),
                       t["collections"].get<uint64_t>(), bytes_text(t["estimated_bytes"].get<uint64_t>()), where);
    print_space(out, plan["space"]);
    for (const auto &p : plan["problems"]) out += "problem: " + p.get<std::string>() + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
}

void print_migrate_plan(const json &plan) {
    std::string out = fmt::format("dry run: nothing was changed. Plan: migrate {} collection(s) from {} to {} (schema {}, "
                                  "{} layout)\n",
                                  plan["collections"].size(), plan["source"].get<std::string>(),
                                  plan["target"].get<std::string>(), plan["schema"].get<std::string>(),
                                  plan["layout"].get<std::string>());
    const json &pv = plan["pgvector"];
    if (!pv["installed"].is_null()) out += fmt::format("pgvector: {} installed\n", pv["installed"].get<std::string>());
    else if (!pv["available"].is_null())
        out += fmt::format("pgvector: {} available, not installed in this database: migrate runs CREATE EXTENSION vector\n",
                           pv["available"].get<std::string>());
    else out += "pgvector: NOT available on the server\n";
    const json &ib = plan["index_builds"];
    if (ib["builds"].get<int>() > 1)
        out += fmt::format("index builds: up to {} at once, each on its own session without parallel workers ({})\n",
                           ib["builds"].get<int>(), ib["why"].get<std::string>());
    for (const auto &c : plan["collections"]) {
        out += fmt::format("\ncollection '{}' (id {}): {} records, {} dimensions, {}\n", c["name"].get<std::string>(),
                           c["id"].get<std::string>(), c["records"].get<uint64_t>(),
                           c["dimension"].is_null() ? std::string("unknown") : c["dimension"].dump(),
                           c["space"].get<std::string>());
        std::string action = c["action"];
        if (action == "replace") action = fmt::format("replaces the existing {} rows", c.value("existing_rows", uint64_t(0)));
        if (action == "refused") action = fmt::format("REFUSED: already there with {} rows (pass --replace)",
                                                      c.value("existing_rows", uint64_t(0)));
        if (action == "resume") action = "--resume: " + c["resume"].get<std::string>();
        out += fmt::format("  table   {} ({})\n", c.value("table", std::string("?")), action);
        if (c.contains("staging"))
            out += fmt::format("  load    binary COPY into {}, a checkpoint every {} records; then {}\n",
                               c["staging"].get<std::string>(), c["checkpoint_records"].get<uint64_t>(),
                               c["load"].get<std::string>());
        for (const auto &ix : c["indexes"]) out += index_line(ix);
        if (c["indexes"].size() < 3 && plan["layout"] == "native")
            out += "  index   no vector index (--index none, or no records/dimension yet): exact search only\n";
        const json &e = c["estimated_bytes"];
        out += fmt::format("  size    ~{} (table {}, TOAST {}, indexes {}; from {} sampled records)\n",
                           bytes_text(e["total"].get<uint64_t>()), bytes_text(e["table"].get<uint64_t>()),
                           bytes_text(e["toast"].get<uint64_t>()), bytes_text(e["indexes"].get<uint64_t>()),
                           c["sample_records"].get<uint64_t>());
    }
    print_plan_end(out, plan, "in PostgreSQL");
}

// ---------------------------------------------------------------- backup

struct FormatSize {
    uint64_t raw = 0, zstd = 0;
};

// Per format (jsonl, json, pickle): the sample encoded exactly as the backup writes it, scaled to the
// collection; the zstd size by the ratio zstd reaches on that sample at `level`.
std::vector<FormatSize> estimate_backup_formats(const CollectionInfo &c, const RecordBatch &s, int level,
                                                std::vector<Problem> &problems) {
    std::vector<std::string> text(3);
    size_t encoded = 0;
    bool reported = false;
    for (size_t i = 0; i < s.size(); ++i) {
        try {
            std::string rec, pk;
            append_record_json(rec, s, i);
            pickle::put_record(pk, s, i);
            text[0] += rec;
            text[0] += '\n';
            text[1] += ",\n";
            text[1] += rec;
            text[2] += pk;
            ++encoded;
        } catch (const Error &e) { // the real backup stops on this record: say so once
            if (!reported) problems.push_back({ExitCode::data, "collection '" + c.name + "': " + e.what()});
            reported = true;
        }
    }
    std::string head = json({{"format", "chroma2pg-backup-json"}, {"format_version", kBackupFormatVersion},
                             {"collection", collection_header(c)}})
                           .dump(-1, ' ', false, json::error_handler_t::replace);
    const uint64_t header[3] = {0, head.size() + 64, head.size() + 96};
    const double n = double(std::max<uint64_t>(c.record_count, s.size()));
    std::vector<FormatSize> out(3);
    for (size_t f = 0; f < 3; ++f) {
        double per_record = encoded == 0 ? 0 : double(text[f].size()) / double(encoded);
        out[f].raw = header[f] + uint64_t(per_record * n);
        if (f == 2) out[f].raw += uint64_t(n / double(pickle::kAppendsChunk)) * 2;
        size_t len = std::min(text[f].size(), kZstdSampleBytes);
        double ratio = 1;
        if (len > 0) {
            std::string z(ZSTD_compressBound(len), '\0');
            size_t r = ZSTD_compress(z.data(), z.size(), text[f].data(), len, level > 0 ? level : 3);
            if (!ZSTD_isError(r)) ratio = double(r) / double(len);
        }
        out[f].zstd = uint64_t(double(out[f].raw) * ratio) + 64;
    }
    return out;
}

CollectionPlan plan_backup_collection(Source &src, const CollectionInfo &c, const BackupPlanOptions &o,
                                      std::vector<Problem> &problems) {
    RecordBatch s = sample_records(src, c, o.batch_size);
    auto dim = dimension_of(c, s);
    auto sizes = estimate_backup_formats(c, s, o.zstd_level, problems);
    CollectionPlan out;
    json &j = out.j;
    j = {{"name", c.name}, {"id", c.id}, {"records", c.record_count}, {"dimension", dim ? json(*dim) : json()},
         {"space", space_name(c.space)}};
    const BackupFormat all[3] = {BackupFormat::jsonl, BackupFormat::json, BackupFormat::pickle};
    json by_format = json::object();
    for (size_t f = 0; f < 3; ++f)
        by_format[format_name(all[f])] = {{"uncompressed", sizes[f].raw}, {"zstd", sizes[f].zstd}};
    json files = json::array();
    std::string stem = safe_file_stem(c.name, c.id);
    for (auto f : o.formats) {
        size_t k = f == BackupFormat::jsonl ? 0 : f == BackupFormat::json ? 1 : 2;
        uint64_t bytes = o.zstd_level > 0 ? sizes[k].zstd : sizes[k].raw;
        files.push_back({{"path", stem + "." + format_extension(f) + (o.zstd_level > 0 ? ".zst" : "")},
                         {"format", format_name(f)}, {"estimated_bytes", bytes}});
        out.estimate += bytes + kManifestPerFile;
    }
    j["files"] = files;
    j["estimated_bytes_by_format"] = by_format;
    j["estimated_bytes"] = out.estimate;
    j["sample_records"] = s.size();
    return out;
}

void print_backup_plan(const json &plan) {
    std::string out = fmt::format("dry run: nothing was written. Plan: back up {} collection(s) from {} into {}\n",
                                  plan["collections"].size(), plan["source"].get<std::string>(),
                                  plan["backup_directory"].get<std::string>());
    std::string formats;
    for (const auto &f : plan["formats"]) formats += (formats.empty() ? "" : ", ") + f.get<std::string>();
    out += fmt::format("formats: {}; compression: {}\n", formats, plan["compression"].get<std::string>());
    for (const auto &c : plan["collections"]) {
        out += fmt::format("\ncollection '{}' (id {}): {} records, {} dimensions, {}\n", c["name"].get<std::string>(),
                           c["id"].get<std::string>(), c["records"].get<uint64_t>(),
                           c["dimension"].is_null() ? std::string("unknown") : c["dimension"].dump(),
                           c["space"].get<std::string>());
        for (const auto &f : c["files"])
            out += fmt::format("  file    {}  ~{}\n", f["path"].get<std::string>(), bytes_text(f["estimated_bytes"].get<uint64_t>()));
        std::string all;
        for (const auto &[name, v] : c["estimated_bytes_by_format"].items())
            all += fmt::format("{}{} {} ({} zstd)", all.empty() ? "" : ", ", name, bytes_text(v["uncompressed"].get<uint64_t>()),
                               bytes_text(v["zstd"].get<uint64_t>()));
        out += fmt::format("  formats {} (from {} sampled records)\n", all, c["sample_records"].get<uint64_t>());
    }
    print_plan_end(out, plan, "on disk");
}

// The end of a dry run: its space check and problems into the plan, the plan printed, then the real run's
// refusals (not enough space: exit 3; the first problem).
void end_plan(json &plan, const SpaceCheck &space, bool skip, const std::vector<Problem> &problems,
              void (*print)(const json &)) {
    plan["space"] = json::array({space.to_json(skip)});
    plan["space_check"] = skip ? "skipped (--skip-space-check)" : "enforced";
    json listed = json::array();
    for (const auto &p : problems) listed.push_back(p.message);
    plan["problems"] = std::move(listed);
    if (global_options().json) print_json(plan);
    else print(plan);
    enforce_space({space}, skip);
    if (!problems.empty()) raise(problems.front());
}

} // namespace

uint64_t TargetEstimate::total() const {
    uint64_t t = table + toast;
    for (const auto &[k, b] : indexes) t += b;
    return t;
}

RecordBatch sample_records(Source &src, const CollectionInfo &c, size_t batch_size) {
    RecordBatch out;
    if (c.record_count == 0) return out;
    uint64_t want = std::min<uint64_t>(c.record_count, kSampleRecords);
    if (c.dimension && *c.dimension)
        want = std::min<uint64_t>(want, (kSampleVectorBytes + 4ull * *c.dimension - 1) / (4ull * *c.dimension));
    auto reader = src.read_range(c, std::max<size_t>(1, std::min<size_t>(batch_size, want)), 0, want);
    RecordBatch b;
    while (out.size() < want && out.embeddings.size() * sizeof(float) < kSampleVectorBytes && reader->next(b)) {
        if (out.empty()) out.dim = b.dim;
        if (b.dim != out.dim) break;
        for (size_t i = 0; i < b.size() && out.size() < want; ++i)
            out.push(b.ids[i], b.embedding(i), b.documents[i], b.uris[i], b.metadatas[i]);
    }
    return out;
}

TargetEstimate estimate_target(PgConnection &pg, const CollectionInfo &c, const RecordBatch &s, const MigratePlanOptions &o) {
    TargetEstimate e;
    e.sample_records = s.size();
    const TargetLayout &layout = target_layout(o.layout);
    const uint64_t rows = std::max<uint64_t>(c.record_count, s.size());
    const uint32_t dim = dimension_of(c, s).value_or(0);
    const bool column_half = o.halfvec;
    const bool index_half = column_half || dim > kMaxVectorIndexDims;
    const uint32_t vector_payload = (column_half ? 2 : 4) * dim + 4; // dim, unused, the values
    const MetadataGin gin_kind = layout.metadata_gin(o.index);

    // Metadata as the layout stores it; the server tells each text's jsonb size.
    std::vector<std::optional<std::string>> texts;
    std::vector<Metadata> indexed;
    for (size_t i = 0; i < s.size(); ++i) {
        std::string t = layout.sized_metadata(s, i);
        Metadata m = s.metadatas[i];
        if (gin_kind != MetadataGin::none && !t.empty()) { // the GIN indexes what is stored (markers included)
            try {
                m = metadata_from_json(t);
            } catch (const Error &) {
            }
        }
        texts.push_back(t.empty() ? std::nullopt : std::optional<std::string>(t));
        indexed.push_back(std::move(m));
    }
    auto jsizes = jsonb_sizes(pg, texts);
    auto meta = [&](size_t i) {
        if (!jsizes[i]) return null_value();
        // jsonb compresses about as well as its JSON text (same strings, numbers and keys).
        uint32_t payload = *jsizes[i] - 4, compressed = 0;
        if (uint32_t z = pglz_compressed_size(*texts[i]); z > 0)
            compressed = uint32_t(double(*jsizes[i]) * double(z) / double(texts[i]->size() + 4));
        return varlena_value(payload, compressed < *jsizes[i] * 3 / 4 ? compressed : 0);
    };

    std::vector<SampledRow> sample;
    std::vector<uint32_t> keys;
    GinSample gin;
    for (size_t i = 0; i < s.size(); ++i) {
        SizedRow r = layout.sized_row(s, i, meta(i), vector_payload, c.name, o.langchain_id_prefix);
        sample.push_back(std::move(r.row));
        keys.push_back(r.key_bytes);
        if (gin_kind != MetadataGin::none) add_gin_entries(gin, indexed[i], gin_kind == MetadataGin::path_ops);
    }
    HeapEstimate heap = estimate_heap(sample, rows);
    e.table = heap.heap_bytes;
    e.toast = heap.toast_bytes;
    for (auto &ix : layout.key_index_sizes(keys, rows)) e.indexes.push_back(ix);
    if (dim > 0 && rows > 0 && dim <= kMaxHalfvecIndexDims) {
        if (o.index.method == IndexMethod::hnsw) e.indexes.push_back({"hnsw", estimate_hnsw(rows, dim, index_half, o.index.hnsw_m)});
        else if (o.index.method == IndexMethod::ivfflat)
            e.indexes.push_back({"ivfflat", estimate_ivfflat(rows, dim, index_half, ivfflat_lists(o.index, rows))});
    }
    if (gin_kind != MetadataGin::none)
        e.indexes.push_back({"gin", estimate_gin(gin, rows, heap.rows_per_page, gin_kind == MetadataGin::path_ops)});
    return e;
}

LayoutOptions layout_options(const MigratePlanOptions &o, const std::string &to, int jobs, Source &source) {
    LayoutOptions lo{o.schema, o.index, o.halfvec, o.replace, o.langchain_id_prefix, to, {}, jobs};
    // Only folded names can collide, and listing a server costs a request per collection.
    const TableLayout *tl = find_table_layout(o.layout);
    if (tl && tl->fold_name)
        for (const auto &c : source.list_collections()) lo.source_names.push_back(c.name);
    return lo;
}

void run_migrate_dry_run(const SourceFlags &src_flags, const std::string &to, const MigratePlanOptions &o, bool skip) {
    SourceOptions so = src_flags.opts;
    resolve_token(so);
    auto source = open_source(src_flags.from, so);
    auto cols = select_collections(*source, src_flags);
    require_storable_names(cols);
    const LayoutOptions lo = layout_options(o, to, 1, *source);
    PgConnection pg(to);
    // Whatever happens below, this session cannot write.
    pg.exec("SET default_transaction_read_only = on");
    log::info("dry_run", fmt::format("dry run: planning the migration of {} collection(s) from {} to {}; nothing is "
                                     "changed",
                                     cols.size(), source->describe(), pg.describe()));
    std::vector<Problem> problems;
    json plan = {{"command", "migrate"}, {"dry_run", true}, {"source", source->describe()}, {"target", pg.describe()},
                 {"schema", o.schema}, {"layout", layout_name(o.layout)}};
    auto installed = pg.scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
    auto available = pg.scalar("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'");
    plan["pgvector"] = {{"installed", installed ? json(*installed) : json()}, {"available", available ? json(*available) : json()}};
    if (!installed && !available)
        problems.push_back({ExitCode::environment,
                            "postgresql " + pg.describe() + ": the pgvector extension is not installed on the server (no "
                            "'vector' in pg_available_extensions); install it before migrating"});
    plan["schema_exists"] = pg.scalar("SELECT 1 FROM pg_namespace WHERE nspname = $1", {o.schema}).has_value();
    // Every layout loads through checkpoints: an interrupted run of any of them refuses a run without --resume.
    const CheckpointStore store(o.schema);
    std::optional<RunRow> prev;
    if (relation_exists(pg, o.schema, "chroma2pg_runs")) {
        if ((prev = store.unfinished_run(pg))) {
            plan["interrupted_run"] = {{"run_id", prev->run_id}, {"started_at", prev->started_at}};
            if (!o.resume && !o.restart)
                problems.push_back({ExitCode::usage,
                                    fmt::format("an interrupted migration exists in schema '{}' (run {} started {}); the "
                                                "real run needs --resume to continue it or --restart to discard it",
                                                o.schema, prev->run_id, prev->started_at)});
        }
    }
    json cj = json::array();
    uint64_t total = 0, records = 0;
    size_t to_build = 0; // the collections whose indexes the run builds: a resume skips those it finished
    for (const auto &c : cols) {
        std::optional<LoadRow> resumed;
        if (prev && o.resume)
            if (auto l = store.load(pg, c.id); l && l->run_id == prev->run_id) resumed = l;
        auto p = plan_target_collection(pg, *source, c, o, lo, resumed, problems);
        total += p.estimate;
        records += c.record_count;
        if (!resumed || !resumed->finished_by(prev->run_id)) ++to_build;
        cj.push_back(std::move(p.j));
    }
    plan["collections"] = cj;
    plan["totals"] = {{"collections", cols.size()}, {"records", records}, {"estimated_bytes", total}};
    // How many collections' indexes build at once, decided as the run decides it (pgvector's policy first).
    IndexOptions idx = o.index;
    const std::string version = installed ? *installed : available.value_or("");
    if (!version.empty()) restrict_to_policy(pgvector_policy(version), idx);
    IndexBuilds builds = plan_index_builds(pg, o, idx, version, to_build);
    plan["index_builds"] = {{"builds", builds.builds}, {"why", builds.why}};
    end_plan(plan, database_space(pg, total), skip, problems, print_migrate_plan);
}

IndexBuilds plan_index_builds(PgConnection &pg, const MigratePlanOptions &o, const IndexOptions &idx,
                              const std::string &pgvector_version, size_t collections) {
    if (!target_layout(o.layout).builds_side_by_side()) return {};
    const int workers = std::stoi(pg.scalar("SHOW max_parallel_maintenance_workers").value_or("0"));
    const int cores = database_is_local(pg) ? int(std::thread::hardware_concurrency()) : 0;
    return choose_index_builds(o.index_builds, idx, pgvector_version, workers, collections, cores);
}

void run_backup_dry_run(const SourceFlags &src_flags, const BackupPlanOptions &o, bool skip) {
    SourceOptions so = src_flags.opts;
    resolve_token(so);
    auto source = open_source(src_flags.from, so);
    auto cols = select_collections(*source, src_flags);
    log::info("dry_run", fmt::format("dry run: planning the backup of {} collection(s) from {}; nothing is written",
                                     cols.size(), source->describe()));
    std::vector<Problem> problems;
    json formats = json::array();
    for (auto f : o.formats) formats.push_back(format_name(f));
    json plan = {{"command", "backup"},
                 {"dry_run", true},
                 {"source", source->describe()},
                 {"out", o.out},
                 {"backup_directory", (std::filesystem::path(o.out) /
                                       ("chroma_backup_" + utc_compact(std::time(nullptr))))
                                          .string()},
                 {"formats", formats},
                 {"compression", o.zstd_level > 0 ? "zstd" : "none"}};
    if (o.zstd_level > 0) plan["zstd_level"] = o.zstd_level;
    plan["zstd_estimate"] = "zstd sizes use the ratio zstd reaches on the sampled records";
    json cj = json::array();
    uint64_t total = kManifestBase, records = 0;
    for (const auto &c : cols) {
        auto p = plan_backup_collection(*source, c, o, problems);
        total += p.estimate;
        records += c.record_count;
        cj.push_back(std::move(p.j));
    }
    plan["collections"] = cj;
    plan["totals"] = {{"collections", cols.size()}, {"records", records}, {"estimated_bytes", total}};
    end_plan(plan, directory_space("backup directory", o.out, total), skip, problems, print_backup_plan);
}

void check_migrate_space(PgConnection &pg, Source &src, const std::vector<CollectionInfo> &cols,
                         const MigratePlanOptions &o) {
    SpaceCheck probe = database_space(pg, 0);
    if (!probe.free_bytes) {
        log::info("space_check", "free space in the database: unknown (" + probe.note + "); not checked");
        return;
    }
    uint64_t total = 0;
    try {
        for (const auto &c : cols) total += estimate_target(pg, c, sample_records(src, c, o.batch_size), o).total();
    } catch (const DataError &e) { // the estimate is advice: the run reports bad data itself
        log::warn("space_check", std::string("could not estimate the target size (") + e.what() + "); not checked");
        return;
    }
    SpaceCheck space = database_space(pg, total);
    log::info("space_check",
              fmt::format("free space in the database ({}): {}, estimated size {}, {} needed", space.path,
                          bytes_text(space.free_bytes.value_or(0)), bytes_text(total), bytes_text(space.needed_bytes)),
              {{"path", space.path}, {"free_bytes", space.free_bytes.value_or(0)}, {"estimate_bytes", total}});
    enforce_space({space}, false);
}

void check_backup_space(Source &src, const std::vector<CollectionInfo> &cols, const BackupPlanOptions &o) {
    std::vector<Problem> ignored; // the real run reports bad records itself
    uint64_t total = kManifestBase;
    try {
        for (const auto &c : cols) total += plan_backup_collection(src, c, o, ignored).estimate;
    } catch (const DataError &e) {
        log::warn("space_check", std::string("could not estimate the backup size (") + e.what() + "); not checked");
        return;
    }
    SpaceCheck space = directory_space("backup directory", o.out, total);
    log::info("space_check",
              fmt::format("free space for the backup ({}): {}, estimated size {}, {} needed", space.path,
                          space.free_bytes ? bytes_text(*space.free_bytes) : std::string("unknown"), bytes_text(total),
                          bytes_text(space.needed_bytes)),
              {{"path", space.path}, {"estimate_bytes", total}});
    enforce_space({space}, false);
}

} // namespace c2p
