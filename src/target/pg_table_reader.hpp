// Reads a migrated table (native or a framework layout's) back as RecordBatches, bit-exact, with binary COPY.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/batch_reader.hpp"
#include "core/record_digest.hpp"
#include "target/pg_connection.hpp"

namespace c2p {

struct PgTableReadOptions {
    std::string schema = "public";
    std::string table;
    uint32_t dim = 0;          // 0: take it from the first row
    bool order_by_id = false;  // ORDER BY id COLLATE "C" (byte order); unordered is a plain seq scan
    std::string where;         // optional SQL predicate (no parameters), e.g. "id IN ('a','b')"
    // Column names: the native table's by default; a framework layout maps its own (uri/digest empty: none).
    std::string id_column = "id", document_column = "document", uri_column = "uri", metadata_column = "metadata",
                digest_column = "digest", embedding_column = "embedding";
    bool metadata_json = false;    // the metadata column is json (its text), not jsonb
    bool halfvec = false;          // the embedding column is halfvec: float16 values, widened exactly
    std::string id_prefix;         // stripped from the ids that start with it (langchain --langchain-id-prefix)
    bool framework_markers = false; // framework layouts: kUriKey / kDocumentNullKey back to uri / document
    bool document_in_metadata = false; // mastra: the document is the metadata key 'text'
};

// Streams `SELECT id, embedding, document, uri, metadata, digest` through COPY (FORMAT BINARY):
// pgvector's binary vector is the float32 bits as stored (halfvec: the float16 bits), jsonb arrives
// as its text (version 1), parsed with metadata_from_json so int vs float is kept. Framework rows are
// mapped back to Chroma records (framework_row_to_record). The connection is busy until the end.
class PgTableReader : public BatchReader {
public:
    PgTableReader(PgConnection &pg, PgTableReadOptions opts, size_t batch_size);
    ~PgTableReader() override;
    bool next(RecordBatch &out) override;
    // The stored `digest` column of the last batch's rows (nullopt when NULL or not 16 bytes).
    const std::vector<std::optional<Digest>> &stored_digests() const { return stored_; }
    // The metadata keys of the last batch's rows whose value is JSON null (dropped from the records:
    // Chroma has no null value, so such a key is a difference verify must see).
    const std::vector<std::vector<std::string>> &metadata_null_keys() const { return null_keys_; }

private:
    bool parse_header();
    // Parses one complete tuple at pos_ into `out`; false when more bytes are needed.
    bool parse_tuple(RecordBatch &out);
    bool fill(); // appends the next COPY chunk; false at the end of the stream
    PgConnection &pg_;
    PgTableReadOptions opts_;
    size_t batch_;
    std::string buf_;
    size_t pos_ = 0;
    bool header_done_ = false, stream_done_ = false, trailer_seen_ = false;
    std::vector<std::optional<Digest>> stored_;
    std::vector<std::vector<std::string>> null_keys_;
    std::string json_;
};

// Decoders for the binary COPY field payloads (exposed for tests).
// pgvector `vector`: int16 dim, int16 unused, dim big-endian float4. Throws DataError on a bad payload.
void decode_vector_binary(const char *p, size_t len, uint32_t expected_dim, std::vector<float> &out);
// pgvector `halfvec`: int16 dim, int16 unused, dim big-endian IEEE binary16, appended as exact floats.
void decode_halfvec_binary(const char *p, size_t len, uint32_t expected_dim, std::vector<float> &out);

} // namespace c2p
