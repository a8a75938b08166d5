// libFuzzer target: the index_metadata.pickle reader must never crash, hang or leak on any bytes.
#include <cstddef>
#include <cstdint>

#include "sources/persistent/pickle_reader.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    c2p::unpickle::Limits lim;
    lim.max_nodes = 1u << 20;
    lim.max_memo = 1u << 20;
    lim.max_stack = 1u << 20;
    lim.max_container_items = 1u << 22;
    try {
        auto v = c2p::unpickle::parse(data, size, "fuzz", lim);
        try {
            (void)c2p::unpickle::extract_index_metadata(v, "fuzz");
        } catch (const c2p::DataError &) {
        }
    } catch (const c2p::DataError &) {
    }
    return 0;
}
