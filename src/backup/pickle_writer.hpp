// Python pickle (protocol 2) opcodes, emitted by hand so a backup streams: plain dicts, lists,
// str, int, float, bool and None that the standard library's pickle.load reads with no imports.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/record.hpp"

namespace c2p::pickle {

// Opcodes used (see Python's Lib/pickletools.py for their definitions).
enum Op : unsigned char {
    PROTO = 0x80,
    STOP = '.',
    MARK = '(',
    EMPTY_DICT = '}',
    EMPTY_LIST = ']',
    SETITEMS = 'u',
    APPENDS = 'e',
    NONE = 'N',
    NEWTRUE = 0x88,
    NEWFALSE = 0x89,
    BININT1 = 'K',
    BININT = 'J',
    LONG1 = 0x8a,
    BINFLOAT = 'G',
    BINUNICODE = 'X',
};

// Records per MARK…APPENDS chunk, so the unpickler's stack stays small.
constexpr size_t kAppendsChunk = 1000;

void put_proto(std::string &out);            // PROTO 2
void put_none(std::string &out);
void put_bool(std::string &out, bool v);
void put_int(std::string &out, int64_t v);   // BININT1 / BININT / LONG1
void put_float(std::string &out, double v);  // BINFLOAT, big-endian IEEE double
void put_str(std::string &out, std::string_view s); // BINUNICODE (UTF-8)
// Any JSON value as dicts/lists/scalars (collection metadata, configuration).
void put_json(std::string &out, const nlohmann::ordered_json &j);
// A record's metadata: a dict with the exact types, or None when empty.
void put_metadata(std::string &out, const Metadata &m);
// One record as {"id", "embedding", "document", "uri", "metadata"}; floats are the float32 values.
void put_record(std::string &out, const RecordBatch &b, size_t i);

} // namespace c2p::pickle
