#include "sources/persistent/sqlite_catalog.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <sqlite3.h>

#include "util/error.hpp"

namespace c2p::persistent {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

bool decode_typed(const sqlite::Stmt &s, int col, bool has_bool, MetaScalar &out) {
    if (!s.is_null(col)) {
        out = s.text(col);
        return true;
    }
    if (has_bool && !s.is_null(col + 3)) {
        out = s.i64(col + 3) != 0;
        return true;
    }
    if (!s.is_null(col + 1)) {
        out = s.i64(col + 1);
        return true;
    }
    if (!s.is_null(col + 2)) {
        out = s.f64(col + 2);
        return true;
    }
    return false;
}

namespace {

bool has(const std::vector<std::string> &cols, const char *c) { return std::find(cols.begin(), cols.end(), c) != cols.end(); }

json scalar_json(const MetaScalar &v) {
    return std::visit([](const auto &x) -> json { return json(x); }, v);
}

std::string detect_era(const sqlite::Db &db, Schema &sc) {
    std::map<std::string, int64_t> mx;
    if (db.has_table("migrations")) {
        auto s = db.prepare("SELECT dir, max(version) FROM migrations GROUP BY dir");
        while (s.step()) mx[s.text(0)] = s.i64(1);
    }
    for (auto &[k, v] : mx) sc.migrations[k] = v;
    auto m = [&](const char *d) { return mx.count(d) ? mx[d] : 0; };
    if (m("metadb") >= 6) return "1.5+";
    if (m("sysdb") >= 10) return "1.3–1.4";
    if (m("metadb") >= 5) return "1.0–1.2";
    if (m("sysdb") >= 8 || m("embeddings_queue") >= 2) return "0.5.6–0.6";
    if (m("sysdb") >= 7) return "0.5.4–0.5.5";
    if (m("sysdb") >= 6) return "0.5.1–0.5.3";
    if (m("sysdb") >= 5) return "0.5.0";
    if (m("sysdb") >= 4) return "0.4.15–0.4.24";
    if (m("metadb") >= 3) return "0.4.6–0.4.14";
    if (m("metadb") >= 2) return "0.4.4–0.4.5";
    if (m("sysdb") >= 1) return "0.4.0–0.4.3";
    return "unknown";
}

const json *json_at(const json &j, std::initializer_list<const char *> path) {
    const json *cur = &j;
    for (const char *k : path) {
        if (!cur->is_object()) return nullptr;
        auto it = cur->find(k);
        if (it == cur->end()) return nullptr;
        cur = &*it;
    }
    return cur;
}

std::optional<std::string> json_space(const json &j, std::initializer_list<const char *> path) {
    const json *v = json_at(j, path);
    if (v && v->is_string()) return v->get<std::string>();
    return std::nullopt;
}

// From 1.3 a directory keeps the collection's configuration in schema_str (config_json_str is "{}"),
// and the server derives its configuration_json from the schema's vector index config: the same
// derivation here, so a directory and the server serving it give one configuration.
json configuration_from_schema(const json &schema) {
    const json *cfg = json_at(schema, {"keys", "#embedding", "float_list", "vector_index", "config"});
    if (!cfg || !cfg->is_object()) cfg = json_at(schema, {"defaults", "float_list", "vector_index", "config"});
    if (!cfg || !cfg->is_object()) return nullptr;
    auto index = [&](const char *kind, std::initializer_list<const char *> keys) -> json {
        auto it = cfg->find(kind);
        if (it == cfg->end() || !it->is_object()) return nullptr;
        json out = json::object();
        if (auto sp = cfg->find("space"); sp != cfg->end()) out["space"] = *sp;
        if (keys.size() == 0) out.update(*it);
        for (const char *k : keys)
            if (auto v = it->find(k); v != it->end()) out[k] = *v;
        return out;
    };
    json ef = nullptr;
    if (auto it = cfg->find("embedding_function"); it != cfg->end()) ef = *it;
    // Only what the server reports: its build-time knobs (num_threads, batch_size) stay out.
    return {{"hnsw", index("hnsw", {"ef_construction", "ef_search", "max_neighbors", "resize_factor", "sync_threshold"})},
            {"spann", index("spann", {})}, // Cloud-only; kept whole
            {"embedding_function", ef}};
}

json parse_json_col(const std::optional<std::string> &s, const std::string &what, std::vector<std::string> &warnings) {
    if (!s || s->empty()) return nullptr;
    try {
        return json::parse(*s);
    } catch (const std::exception &e) {
        warnings.push_back(fmt::format("{} is not valid JSON ({}); ignored", what, e.what()));
        return nullptr;
    }
}

json read_kv_metadata(const sqlite::Db &db, const char *table, const char *idcol, const std::string &id, bool has_bool) {
    std::string sql = fmt::format("SELECT key, str_value, int_value, float_value{} FROM {} WHERE {} = ? ORDER BY key",
                                  has_bool ? ", bool_value" : "", table, idcol);
    auto s = db.prepare(sql);
    s.bind(1, id);
    json out = nullptr;
    while (s.step()) {
        MetaScalar v;
        if (!decode_typed(s, 1, has_bool, v)) continue;
        if (out.is_null()) out = json::object();
        out[s.text(0)] = scalar_json(v);
    }
    return out;
}

} // namespace

Catalog read_catalog(const sqlite::Db &db, const std::string &dir) {
    Catalog cat;
    Schema &sc = cat.schema;
    if (!db.has_table("collections") || !db.has_table("segments") || !db.has_table("embeddings"))
        throw DataError(fmt::format("{}/chroma.sqlite3: not a Chroma database (tables collections/segments/embeddings missing)", dir));
    auto ccols = db.columns("collections");
    sc.collections_topic = has(ccols, "topic");
    sc.has_config_json = has(ccols, "config_json_str");
    sc.has_schema_str = has(ccols, "schema_str");
    bool has_dbid = has(ccols, "database_id");
    sc.has_tenants = has_dbid && db.has_table("databases");
    sc.has_bool_value = db.has_table("embedding_metadata") && has(db.columns("embedding_metadata"), "bool_value");
    sc.has_metadata_array = db.has_table("embedding_metadata_array");
    sc.has_queue_config = db.has_table("embeddings_queue_config");
    sc.has_max_seq_id = db.has_table("max_seq_id");
    sc.has_queue = db.has_table("embeddings_queue");
    sc.era = detect_era(db, sc);
    bool coll_meta_bool = db.has_table("collection_metadata") && has(db.columns("collection_metadata"), "bool_value");
    bool seg_meta_bool = db.has_table("segment_metadata") && has(db.columns("segment_metadata"), "bool_value");
    bool has_seg_meta = db.has_table("segment_metadata");
    bool has_coll_meta = db.has_table("collection_metadata");

    if (sc.has_queue_config) {
        auto s = db.prepare("SELECT config_json_str FROM embeddings_queue_config ORDER BY id DESC LIMIT 1");
        if (s.step() && !s.is_null(0)) {
            try {
                auto j = json::parse(s.text(0));
                if (j.contains("automatically_purge") && j["automatically_purge"].is_boolean())
                    cat.automatically_purge = j["automatically_purge"].get<bool>();
            } catch (const std::exception &) {
            }
        }
    }

    std::string sql = "SELECT c.id, c.name, c.dimension";
    sql += sc.has_config_json ? ", c.config_json_str" : ", NULL";
    sql += sc.has_schema_str ? ", c.schema_str" : ", NULL";
    sql += sc.collections_topic ? ", c.topic" : ", NULL";
    if (sc.has_tenants)
        sql += ", d.tenant_id, d.name FROM collections c LEFT JOIN databases d ON d.id = c.database_id";
    else
        sql += ", NULL, NULL FROM collections c";
    sql += " ORDER BY c.name, c.id";
    std::set<std::string> known_segments;
    {
        auto s = db.prepare(sql);
        while (s.step()) {
            CatalogCollection c;
            c.id = s.text(0);
            c.name = s.text(1);
            if (!s.is_null(2)) {
                int64_t d = s.i64(2);
                if (d <= 0 || d > 65536)
                    c.warnings.push_back(fmt::format("collections.dimension {} is out of range; ignored", d));
                else
                    c.dimension = uint32_t(d);
            }
            c.configuration = parse_json_col(s.opt_text(3), "collections.config_json_str", c.warnings);
            c.schema = parse_json_col(s.opt_text(4), "collections.schema_str", c.warnings);
            if ((c.configuration.is_null() || (c.configuration.is_object() && c.configuration.empty())) &&
                !c.schema.is_null())
                if (json derived = configuration_from_schema(c.schema); !derived.is_null()) c.configuration = derived;
            if (!s.is_null(5)) c.topics.push_back(s.text(5));
            if (!s.is_null(6)) c.tenant = s.text(6);
            if (!s.is_null(7)) c.database = s.text(7);
            cat.collections.push_back(std::move(c));
        }
    }
    std::map<std::string, size_t> by_id;
    for (size_t i = 0; i < cat.collections.size(); ++i) by_id[cat.collections[i].id] = i;

    // Segments.
    {
        auto s = db.prepare("SELECT id, scope, type, collection FROM segments ORDER BY id");
        while (s.step()) {
            std::string sid = s.text(0), scope = s.text(1), type = s.text(2);
            auto coll = s.opt_text(3);
            known_segments.insert(sid);
            if (!coll || !by_id.count(*coll)) continue;
            auto &c = cat.collections[by_id[*coll]];
            std::string &slot = scope == "METADATA" ? c.meta_segment : scope == "VECTOR" ? c.vec_segment : sid;
            if (&slot == &sid) continue;
            if (!slot.empty())
                c.warnings.push_back(fmt::format("more than one {} segment ({} and {}); using the first", scope, slot, sid));
            else
                slot = sid;
            (void)type;
        }
    }
    // max_seq_id.
    if (sc.has_max_seq_id) {
        auto s = db.prepare("SELECT segment_id, seq_id FROM max_seq_id");
        std::map<std::string, uint64_t> mx;
        while (s.step()) {
            std::string sid = s.text(0);
            mx[sid] = sqlite::seq_id_of(s, 1, fmt::format("chroma.sqlite3: max_seq_id of segment {}", sid));
        }
        for (auto &c : cat.collections) {
            if (!c.meta_segment.empty() && mx.count(c.meta_segment)) c.meta_max_seq = mx[c.meta_segment];
            if (!c.vec_segment.empty() && mx.count(c.vec_segment)) c.vec_max_seq = mx[c.vec_segment];
        }
    }
    // WAL topics: persistent://tenant/namespace/<collection id>; match by the last component.
    if (sc.has_queue) {
        auto s = db.prepare("SELECT topic, count(*) FROM embeddings_queue GROUP BY topic");
        while (s.step()) {
            std::string t = s.text(0);
            auto slash = t.rfind('/');
            std::string last = slash == std::string::npos ? t : t.substr(slash + 1);
            bool owned = false;
            for (auto &c : cat.collections) {
                bool match = last == c.id || std::find(c.topics.begin(), c.topics.end(), t) != c.topics.end();
                if (match) {
                    if (std::find(c.topics.begin(), c.topics.end(), t) == c.topics.end()) c.topics.push_back(t);
                    owned = true;
                }
            }
            if (!owned) cat.orphan_queue_rows += uint64_t(s.i64(1));
        }
    }
    // Metadata, configuration, space.
    for (auto &c : cat.collections) {
        if (has_coll_meta) c.metadata = read_kv_metadata(db, "collection_metadata", "collection_id", c.id, coll_meta_bool);
        json seg_meta = nullptr;
        if (has_seg_meta && !c.vec_segment.empty())
            seg_meta = read_kv_metadata(db, "segment_metadata", "segment_id", c.vec_segment, seg_meta_bool);
        std::optional<std::string> sp;
        if (!c.schema.is_null()) {
            sp = json_space(c.schema, {"keys", "#embedding", "float_list", "vector_index", "config", "space"});
            if (!sp) sp = json_space(c.schema, {"defaults", "float_list", "vector_index", "config", "space"});
            if (sp) c.space_source = "schema_str";
        }
        if (!sp && !c.configuration.is_null()) {
            sp = json_space(c.configuration, {"hnsw_configuration", "space"});
            if (!sp) sp = json_space(c.configuration, {"vector_index", "hnsw", "space"});
            if (!sp) sp = json_space(c.configuration, {"hnsw", "space"});
            if (sp) c.space_source = "config_json_str";
        }
        if (!sp && seg_meta.is_object() && seg_meta.contains("hnsw:space") && seg_meta["hnsw:space"].is_string()) {
            sp = seg_meta["hnsw:space"].get<std::string>();
            c.space_source = "segment_metadata";
        }
        if (!sp && c.metadata.is_object() && c.metadata.contains("hnsw:space") && c.metadata["hnsw:space"].is_string()) {
            sp = c.metadata["hnsw:space"].get<std::string>();
            c.space_source = "collection_metadata";
        }
        if (sp) {
            try {
                c.space = parse_space(*sp);
            } catch (const DataError &) {
                throw DataError(fmt::format("collection '{}' ({}): unknown distance space '{}' in {}", c.name, c.id, *sp,
                                            c.space_source));
            }
        }
        // Disagreement between sources is worth a warning (the precedence above decides).
        if (c.metadata.is_object() && c.metadata.contains("hnsw:space") && c.metadata["hnsw:space"].is_string() &&
            c.metadata["hnsw:space"].get<std::string>() != space_name(c.space))
            c.warnings.push_back(fmt::format("collection metadata says hnsw:space '{}' but {} says '{}'; using '{}'",
                                             c.metadata["hnsw:space"].get<std::string>(), c.space_source,
                                             space_name(c.space), space_name(c.space)));
        if (c.meta_segment.empty()) c.warnings.push_back("collection has no METADATA segment");
    }
    // Orphans.
    {
        auto s = db.prepare("SELECT count(*) FROM embeddings WHERE segment_id NOT IN (SELECT id FROM segments)");
        if (s.step()) cat.orphan_embedding_rows = uint64_t(s.i64(0));
        auto all = db.prepare("SELECT count(*) FROM embeddings");
        if (all.step()) cat.embedding_rows = uint64_t(all.i64(0));
        std::error_code ec;
        for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
            if (!it->is_directory()) continue;
            std::string name = it->path().filename().string();
            if (name.size() != 36 || std::count(name.begin(), name.end(), '-') != 4) continue;
            if (!known_segments.count(name)) cat.orphan_dirs.push_back(name);
        }
        std::sort(cat.orphan_dirs.begin(), cat.orphan_dirs.end());
    }
    return cat;
}

bool metadata_in_id_order(const sqlite::Db &db) {
    auto s = db.prepare("SELECT id FROM embedding_metadata NOT INDEXED");
    int64_t prev = INT64_MIN;
    while (s.step()) {
        if (s.is_null(0)) return false;
        int64_t id = s.i64(0);
        if (id < prev) return false;
        prev = id;
    }
    return true;
}

} // namespace c2p::persistent
