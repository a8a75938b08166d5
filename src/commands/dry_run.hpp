// `migrate --dry-run` and `backup --dry-run`: the plan (collections, target tables and indexes,
// estimated sizes, free space) computed with read-only queries and no file written; and the same
// free-space check before a real migrate or backup.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backup/backup_format.hpp"
#include "commands/common.hpp"
#include "target/index_build.hpp"
#include "target/layout_sink.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

struct MigratePlanOptions {
    std::string schema = "public";
    Layout layout = Layout::native;
    IndexOptions index;
    bool halfvec = false, langchain_id_prefix = false;
    bool replace = false, resume = false, restart = false;
    size_t batch_size = 1000;
    uint64_t checkpoint_records = 50000; // --checkpoint-records: what the plan says a crash can cost
    int index_builds = 0;                // --index-builds (0: choose_index_builds decides)
};

// What a layout's sink loads with and its plan is made with (--dry-run plans with the run's own options):
// `source_names`, every collection of the source when the layout folds names, so that names folding alike
// are planned as they load.
LayoutOptions layout_options(const MigratePlanOptions &o, const std::string &to, int jobs, Source &source);

struct BackupPlanOptions {
    std::string out;
    std::vector<BackupFormat> formats;
    int zstd_level = 0; // 0: no compression
    size_t batch_size = 1000;
};

// Prints the plan (JSON with --json) and changes nothing; then throws, as the real run would, when it
// would be refused (not enough free space unless `skip_space_check`, pgvector missing, already migrated…).
void run_migrate_dry_run(const SourceFlags &src, const std::string &to, const MigratePlanOptions &o, bool skip_space_check);
// How many collections' indexes build at once (choose_index_builds) for `collections` left to build, from
// the server's max_parallel_maintenance_workers and, for a server on this host, its cores; one at a
// time for a framework layout. `idx`: after the pgvector policy. The run and its dry run both ask this.
IndexBuilds plan_index_builds(PgConnection &pg, const MigratePlanOptions &o, const IndexOptions &idx,
                              const std::string &pgvector_version, size_t collections);
void run_backup_dry_run(const SourceFlags &src, const BackupPlanOptions &o, bool skip_space_check);

// Before a real run: EnvError (exit 3) when the database (when local) or the backup directory has
// less free space than twice the estimate. Samples each collection's first records for the estimate.
void check_migrate_space(PgConnection &pg, Source &src, const std::vector<CollectionInfo> &cols,
                         const MigratePlanOptions &o);
void check_backup_space(Source &src, const std::vector<CollectionInfo> &cols, const BackupPlanOptions &o);

// The estimated PostgreSQL size of one collection (table, TOAST, every index) and how it is reached.
struct TargetEstimate {
    uint64_t table = 0, toast = 0;
    std::vector<std::pair<std::string, uint64_t>> indexes; // kind -> bytes
    uint64_t sample_records = 0;
    uint64_t total() const;
};
TargetEstimate estimate_target(PgConnection &pg, const CollectionInfo &c, const RecordBatch &sample,
                               const MigratePlanOptions &o);
// The first records of a collection (up to a few thousand, bounded in bytes).
RecordBatch sample_records(Source &src, const CollectionInfo &c, size_t batch_size);

} // namespace c2p
