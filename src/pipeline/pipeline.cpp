#include "pipeline/pipeline.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "util/interrupt.hpp"
#include "util/log_scope.hpp"

namespace c2p {
namespace {

// Batches in flight: one being read, one being written, one ready. Enough to overlap I/O.
constexpr size_t kQueueDepth = 2;

struct Channel {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::unique_ptr<RecordBatch>> full, free;
    bool done = false;     // reader finished
    bool cancelled = false; // writer failed
    std::exception_ptr reader_error;
};

} // namespace

PipelineStats run_pipeline(const CollectionInfo &c, BatchReader &reader, Sink &sink, Progress *progress) {
    // Every log line, and the error if one escapes, names the collection being moved.
    log::Scope scope(nlohmann::ordered_json{{"collection", c.name}});
    auto t0 = std::chrono::steady_clock::now();
    PipelineStats st;
    Channel ch;
    for (size_t i = 0; i < kQueueDepth + 1; ++i) ch.free.push_back(std::make_unique<RecordBatch>());

    sink.begin(c);
    std::thread producer([&] {
        log::Scope reader_scope(nlohmann::ordered_json{{"collection", c.name}});
        try {
            for (;;) {
                std::unique_ptr<RecordBatch> b;
                {
                    std::unique_lock lk(ch.mu);
                    ch.cv.wait(lk, [&] { return !ch.free.empty() || ch.cancelled; });
                    if (ch.cancelled) return;
                    b = std::move(ch.free.front());
                    ch.free.pop_front();
                }
                bool more = reader.next(*b);
                std::lock_guard lk(ch.mu);
                if (!more || b->empty()) {
                    ch.free.push_back(std::move(b));
                    if (!more) {
                        ch.done = true;
                        ch.cv.notify_all();
                        return;
                    }
                    continue;
                }
                ch.full.push_back(std::move(b));
                ch.cv.notify_all();
            }
        } catch (...) {
            std::lock_guard lk(ch.mu);
            ch.reader_error = std::current_exception();
            ch.done = true;
            ch.cv.notify_all();
        }
    });

    try {
        for (;;) {
            std::unique_ptr<RecordBatch> b;
            {
                std::unique_lock lk(ch.mu);
                ch.cv.wait(lk, [&] { return !ch.full.empty() || ch.done; });
                if (ch.full.empty()) {
                    if (ch.reader_error) std::rethrow_exception(ch.reader_error);
                    break;
                }
                b = std::move(ch.full.front());
                ch.full.pop_front();
            }
            // Ctrl-C / SIGTERM: stop between batches; the sink's abort keeps only what it committed.
            interrupt::throw_if_requested("stopped while moving '" + c.name + "'");
            sink.write(*b);
            st.records += b->size();
            auto bytes = b->payload_bytes();
            st.bytes += bytes;
            if (progress) progress->add(b->size(), bytes);
            std::lock_guard lk(ch.mu);
            ch.free.push_back(std::move(b));
            ch.cv.notify_all();
        }
        producer.join();
        sink.finish();
    } catch (...) {
        {
            std::lock_guard lk(ch.mu);
            ch.cancelled = true;
            ch.cv.notify_all();
        }
        if (producer.joinable()) producer.join();
        sink.abort();
        throw;
    }
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return st;
}

PipelineStats load_collection(Source &source, const CollectionInfo &c, size_t batch_size, Sink &sink,
                              const std::string &label, bool show_progress) {
    auto reader = source.read(c, batch_size);
    Progress progress(label, c.record_count, show_progress);
    auto st = run_pipeline(c, *reader, sink, &progress);
    progress.finish();
    return st;
}

} // namespace c2p
