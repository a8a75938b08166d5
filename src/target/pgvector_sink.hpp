// Loads one collection into the native layout with binary COPY, then indexes it and swaps it in
// atomically: a crash at any moment leaves either the previous table or the complete new one.
#pragma once

#include <string>

#include "pipeline/sink.hpp"
#include "target/copy_binary.hpp"
#include "target/native_layout.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

struct PgvectorSinkOptions {
    std::string schema = "public";
    IndexOptions index;
    std::string source_description; // recorded in the registry; no credentials
};

class PgvectorSink : public Sink {
public:
    PgvectorSink(PgConnection &pg, PgvectorSinkOptions opts);
    void begin(const CollectionInfo &c) override;
    void write(const RecordBatch &batch) override;
    void finish() override;
    void abort() noexcept override;

    const std::string &table_name() const { return table_; }
    uint64_t rows_written() const { return rows_; }
    double index_seconds() const { return index_seconds_; }

private:
    void flush(bool force);
    PgConnection &pg_;
    PgvectorSinkOptions opts_;
    CollectionInfo info_;
    std::string table_, staging_;
    CopyBinaryBuffer buf_;
    std::string json_;
    uint64_t rows_ = 0;
    double index_seconds_ = 0;
    bool in_tx_ = false, in_copy_ = false;
};

} // namespace c2p
