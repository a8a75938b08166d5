#include "target/halfvec.hpp"

#include <cmath>

#include <fmt/format.h>

#include "target/copy_binary.hpp"

namespace c2p {

std::string halfvec_problem(const RecordBatch &b, size_t i) {
    const float *v = b.embedding(i);
    for (uint32_t k = 0; k < b.dim; ++k)
        if ((float_to_half(v[k]) & 0x7FFFu) == 0x7C00u && std::isfinite(v[k]))
            return fmt::format("embedding[{}] = {} does not fit a halfvec (float16 reaches 65504; pgvector refuses "
                               "values that round beyond it)",
                               k, v[k]);
    return {};
}

void round_to_halfvec(RecordBatch &b) {
    for (float &x : b.embeddings) x = half_to_float(float_to_half(x));
}

Digest record_digest_halfvec(const RecordBatch &b, size_t i) {
    thread_local RecordBatch one;
    one.clear();
    one.dim = b.dim;
    one.push(b.ids[i], b.embedding(i), b.documents[i], b.uris[i], b.metadatas[i]);
    round_to_halfvec(one);
    return record_digest(one, 0);
}

} // namespace c2p
