// Names what differs between two versions of one record: embedding, document, uri, metadata.
#pragma once

#include <string>
#include <vector>

#include "core/record.hpp"

namespace c2p {

struct FieldDiff {
    std::vector<std::string> fields;  // "embedding", "document", "uri", "metadata"
    std::vector<std::string> details; // human sentences naming the position / key and both values
};

// Compares record `i` of `a` (the source) with record `j` of `b` (the target), bit for bit.
// float16: both embeddings hold float16 values (a halfvec column; the source already rounded), and
// the message shows float16 bits.
FieldDiff diff_records(const RecordBatch &a, size_t i, const RecordBatch &b, size_t j, bool float16 = false);

// "int 1", "float 1.0", "bool true", "string \"true\"", "array [...]": type and value, for messages.
std::string describe_meta_value(const MetaValue &v);

} // namespace c2p
