#pragma once
// background_loader: the stage-1 data source. Batches of defect-free images [N, C, R, R] in
// [-1, 1] with their valid regions [N, 1, R, R] as {-1, +1} (2b - 1, what the discriminator sees).
//
// - Before the constructor returns, every file is decoded once (background_set.hpp): bad files
//   stop it with an error naming the first one, or are skipped and reported; the usable set is
//   then fixed. Preprocessed samples of the first files, up to cache_bytes, stay in memory; the
//   others are decoded again whenever they are served.
// - Batch b holds positions [b N, (b + 1) N) of the sequence of sample_order.hpp: the order, the
//   flips and so every bit of every batch are a pure function of (file list, options, seed, b).
//   position() is the number of batches served; a run resumed with start_batch = position() (or
//   after seek(position())) continues with exactly the batch it would have had next.
// - One background thread decodes and preprocesses ahead into `prefetch` batch buffers; next()
//   only copies a finished batch. The thread runs its ops serially (it never takes the shared
//   pool away from the trainer), and cached and decoded samples are the same bits, so nothing
//   depends on timing, thread counts or the cache budget.
// - An error on the thread (a file that became unreadable after construction) is rethrown by the
//   next() that would have returned its batch, naming the file, and by every next() after it
//   until seek(). The destructor stops the thread at once, whether it is decoding or waiting.
// - The thread never touches the global pool (parallel_for inside a serial region runs inline
//   before looking it up), so core::set_num_threads() may be called while a loader runs.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "background_set.hpp"
#include "image_io.hpp"
#include "layouts.hpp"
#include "sample_order.hpp"

namespace imbdef::data {

struct loader_options {
    core::index_t batch_size = 8;
    std::uint64_t seed = 0;
    bool x_flip = false;                              // mirror image and mask together, per (epoch, sample)
    std::uint64_t start_batch = 0;                    // the first batch next() returns (resume)
    int prefetch = 3;                                 // finished batches kept ahead, 1 .. 16
    std::size_t cache_bytes = std::size_t{1} << 30;  // preprocessed samples kept in memory
};

class background_loader {
public:
    background_loader(std::vector<background_source> sources, background_options data, loader_options batches = {},
                      std::string origin = {})
        : data_(std::move(data)), opt_(batches) {
        IMBDEF_REQUIRE(opt_.batch_size >= 1, "background_loader", "a batch size >= 1",
                       std::to_string(opt_.batch_size));
        IMBDEF_REQUIRE(opt_.prefetch >= 1 && opt_.prefetch <= 16, "background_loader", "prefetch in [1, 16]",
                       std::to_string(opt_.prefetch));
        if (origin.empty()) origin = origin_of(sources);
        detail::check_background_options(sources, data_);
        auto set = detail::prepare_background_set(sources, data_, cache_capacity(sources), origin);
        n_ = static_cast<core::index_t>(set.usable.size());
        channels_ = set.channels;
        usable_ = std::move(set.usable);
        skipped_ = std::move(set.skipped);
        images_ = std::move(set.images);
        masks_ = std::move(set.masks);
        for (const auto& s : usable_) files_.push_back(s.image);

        const core::index_t r = resolution(), nb = opt_.batch_size;
        for (int i = 0; i < opt_.prefetch; ++i) {
            buffers_.push_back(std::make_unique<batch_buffer>());
            buffers_.back()->images = core::tensor<float>(core::shape{nb, channels_, r, r}, core::uninitialized);
            buffers_.back()->masks = core::tensor<float>(core::shape{nb, 1, r, r}, core::uninitialized);
            free_.push_back(buffers_.back().get());
        }
        served_ = produce_next_ = opt_.start_batch;
        worker_ = std::thread([this] { worker_main(); });
    }

    background_loader(const std::filesystem::path& folder, background_options data, loader_options batches = {})
        : background_loader(background_sources(folder), std::move(data), batches, folder.string()) {}

    background_loader(const dataset_index& index, background_options data, loader_options batches = {})
        : background_loader(background_sources(index), std::move(data), batches, index.root.string()) {}

    background_loader(const background_loader&) = delete;
    background_loader& operator=(const background_loader&) = delete;

    ~background_loader() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        changed_.notify_all();
        if (worker_.joinable()) worker_.join();
    }

    // The next batch: images [N, C, R, R], masks [N, 1, R, R] (or an empty view to discard them).
    // Blocks until the batch is ready.
    void next(core::view<float> images, core::view<float> masks) {
        const core::index_t r = resolution(), nb = opt_.batch_size;
        const core::shape want_images({nb, channels_, r, r}), want_masks({nb, 1, r, r});
        IMBDEF_REQUIRE(images.shape() == want_images, "background_loader::next images", "shape " + want_images.to_string(),
                       images.shape().to_string());
        IMBDEF_REQUIRE(masks.empty() || masks.shape() == want_masks, "background_loader::next masks",
                       "shape " + want_masks.to_string() + " or an empty view", masks.shape().to_string());
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return !ready_.empty() || error_; });
        if (ready_.empty()) std::rethrow_exception(error_);
        batch_buffer* buf = ready_.front();
        ready_.pop_front();
        lock.unlock();
        std::copy(buf->images.begin(), buf->images.end(), images.begin());
        if (!masks.empty()) std::copy(buf->masks.begin(), buf->masks.end(), masks.begin());
        lock.lock();
        free_.push_back(buf);
        ++served_;
        lock.unlock();
        changed_.notify_all();
    }

    void next(core::view<float> images) { next(images, core::view<float>{}); }

    // Makes batch `batches_served` the next one next() returns; batches prepared ahead are dropped.
    void seek(std::uint64_t batches_served) {
        {
            std::lock_guard lock(mutex_);
            generation_.fetch_add(1);
            while (!ready_.empty()) {
                free_.push_back(ready_.front());
                ready_.pop_front();
            }
            error_ = nullptr;
            served_ = produce_next_ = batches_served;
        }
        changed_.notify_all();
    }

    // Batches served so far (counting from 0 at the start of training): store it in a checkpoint.
    std::uint64_t position() const {
        std::lock_guard lock(mutex_);
        return served_;
    }
    // The epoch the next batch starts in.
    std::uint64_t epoch() const { return position() * static_cast<std::uint64_t>(opt_.batch_size) / static_cast<std::uint64_t>(n_); }

    core::index_t size() const noexcept { return n_; }  // usable samples
    int channels() const noexcept { return channels_; }
    core::index_t resolution() const noexcept { return data_.preprocess.resolution; }
    core::index_t batch_size() const noexcept { return opt_.batch_size; }
    std::uint64_t seed() const noexcept { return opt_.seed; }
    const std::vector<std::filesystem::path>& files() const noexcept { return files_; }  // usable, in order
    const std::vector<skipped_file>& skipped() const noexcept { return skipped_; }
    // Samples kept in memory (the first ones in list order).
    core::index_t cached() const noexcept {
        return static_cast<core::index_t>(std::count_if(images_.begin(), images_.end(), [](const auto& t) { return !t.empty(); }));
    }

    // The whole usable set in list order, unflipped (for metrics); safe while batches are served.
    background_set load_all() const {
        const core::index_t r = resolution(), plane = channels_ * r * r;
        background_set out;
        out.images = core::tensor<float>(core::shape{n_, channels_, r, r}, core::uninitialized);
        out.masks = core::tensor<float>(core::shape{n_, 1, r, r}, core::uninitialized);
        core::parallel_for(0, n_, 1, [&](core::index_t lo, core::index_t hi) {
            core::tensor<float> image;
            core::tensor<std::uint8_t> mask;
            for (core::index_t i = lo; i < hi; ++i) {
                const auto [im, m] = sample(i, image, mask);
                write_sample(im, m, false, out.images.data() + i * plane, out.masks.data() + i * r * r);
            }
        });
        out.files = files_;
        out.skipped = skipped_;
        return out;
    }

private:
    struct batch_buffer {
        core::tensor<float> images;
        core::tensor<float> masks;
    };

    // How many leading sources fit in the cache budget. The channel count is not known before the
    // files are read; under "follow the data" the first readable header decides the estimate.
    std::size_t cache_capacity(const std::vector<background_source>& sources) const {
        int c = data_.preprocess.channels;
        for (std::size_t i = 0; c == 0 && i < sources.size(); ++i) {
            try {
                c = preprocessed_channels(data_.preprocess, probe_image(sources[i].image).channels);
            } catch (const imbdef::error&) {
            }
        }
        const auto r = static_cast<std::size_t>(data_.preprocess.resolution);
        const std::size_t per_sample = static_cast<std::size_t>(std::max(c, 1)) * r * r * sizeof(float) + r * r;
        return opt_.cache_bytes / per_sample;
    }

    // Sample i's preprocessed image and {0, 1} mask, from the cache or decoded into the given tensors.
    std::pair<const float*, const std::uint8_t*> sample(core::index_t i, core::tensor<float>& image,
                                                       core::tensor<std::uint8_t>& mask) const {
        const auto k = static_cast<std::size_t>(i);
        if (!images_[k].empty()) return {images_[k].data(), masks_[k].data()};
        const core::index_t r = resolution();
        if (image.empty()) {
            image = core::tensor<float>(core::shape{channels_, r, r}, core::uninitialized);
            mask = core::tensor<std::uint8_t>(core::shape{r, r}, core::uninitialized);
        }
        detail::prepare_background_sample(usable_[k], data_, channels_, image.view(), mask.view());
        return {image.data(), mask.data()};
    }

    void write_sample(const float* image, const std::uint8_t* mask, bool flip, float* image_out, float* mask_out) const {
        const core::index_t r = resolution();
        for (core::index_t row = 0; row < channels_ * r; ++row) {
            const float* s = image + row * r;
            float* d = image_out + row * r;
            if (flip)
                std::reverse_copy(s, s + r, d);
            else
                std::copy(s, s + r, d);
        }
        for (core::index_t y = 0; y < r; ++y)
            for (core::index_t x = 0; x < r; ++x)
                mask_out[y * r + x] = mask[y * r + (flip ? r - 1 - x : x)] ? 1.0f : -1.0f;
    }

    // Fills `buf` with batch b; false when stopped or superseded by seek() on the way.
    bool fill(batch_buffer& buf, std::uint64_t b, std::uint64_t generation, sample_order& order,
              core::tensor<float>& image, core::tensor<std::uint8_t>& mask) const {
        const core::index_t r = resolution(), nb = opt_.batch_size;
        for (core::index_t k = 0; k < nb; ++k) {
            if (stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_relaxed) != generation)
                return false;
            const sample_slot slot = order.at(b * static_cast<std::uint64_t>(nb) + static_cast<std::uint64_t>(k));
            const auto [im, m] = sample(slot.sample, image, mask);
            write_sample(im, m, slot.flip, buf.images.data() + k * channels_ * r * r, buf.masks.data() + k * r * r);
        }
        return true;
    }

    void worker_main() {
        // Nested parallel_for runs serially (core/parallel.hpp): this thread must not occupy the
        // shared pool the trainer computes with.
        core::detail::inside_parallel_region = true;
        sample_order order(opt_.seed, n_, opt_.x_flip);
        core::tensor<float> image;
        core::tensor<std::uint8_t> mask;
        std::unique_lock lock(mutex_);
        for (;;) {
            changed_.wait(lock, [&] { return stop_ || (!error_ && !free_.empty()); });
            if (stop_) return;
            batch_buffer* buf = free_.back();
            free_.pop_back();
            const std::uint64_t b = produce_next_, generation = generation_.load();
            lock.unlock();
            std::exception_ptr error;
            bool done = false;
            try {
                done = fill(*buf, b, generation, order, image, mask);
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            if (generation != generation_.load() || stop_ || (!done && !error)) {
                free_.push_back(buf);
                continue;
            }
            if (error) {
                free_.push_back(buf);
                error_ = error;
            } else {
                ready_.push_back(buf);
                ++produce_next_;
            }
            changed_.notify_all();
        }
    }

    background_options data_;
    loader_options opt_;
    core::index_t n_ = 0;
    int channels_ = 0;
    std::vector<background_source> usable_;
    std::vector<std::filesystem::path> files_;
    std::vector<skipped_file> skipped_;
    std::vector<core::tensor<float>> images_;        // cache: [C, R, R] or empty
    std::vector<core::tensor<std::uint8_t>> masks_;  // cache: [R, R] {0, 1} or empty

    std::vector<std::unique_ptr<batch_buffer>> buffers_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<batch_buffer*> ready_;  // in batch order, starting at served_
    std::vector<batch_buffer*> free_;
    std::exception_ptr error_;
    std::uint64_t served_ = 0;        // consumer's position
    std::uint64_t produce_next_ = 0;  // the batch the worker fills next
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<bool> stop_{false};
    std::thread worker_;
};

}  // namespace imbdef::data
