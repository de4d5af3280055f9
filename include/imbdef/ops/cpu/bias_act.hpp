#pragma once
// The CPU backend of ops::bias_act. Arguments are checked by the front end (ops/bias_act.hpp).
//
// Tensors are seen as [outer, channels, inner] around the channel axis. The bias enters as
// b[c] * bias_gain (bias_gain is 1 for bias_act itself; the fully connected layer passes its
// equalised-learning-rate bias gain), so db[c] = bias_gain * sum dx.

#include <algorithm>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/shape.hpp"
#include "../backend.hpp"
#include "../def/bias_act.hpp"

namespace imbdef::ops {

struct channel_layout {
    core::index_t outer = 1;
    core::index_t channels = 1;
    core::index_t inner = 1;
    core::index_t rows() const { return outer * channels; }
};

template <>
struct backend<bias_act_op, core::cpu> {
    using index_t = core::index_t;

    // y = rule(x + b * bias_gain), x_dot form: y_dot = factor(y) (x_dot + b_dot * bias_gain).
    template <class T>
    static void forward(const channel_layout& l, const T* x, const T* b, T bias_gain, T* y,
                        const bias_act_op::rule<T>& r) {
        for_rows(l, [&](index_t row, index_t c) {
            const T bias = b ? b[c] * bias_gain : T(0);
            const T* xs = x + row * l.inner;
            T* ys = y + row * l.inner;
            for (index_t i = 0; i < l.inner; ++i) ys[i] = r.forward(xs[i] + bias);
        });
    }

    template <class T>
    static void forward_tangent(const channel_layout& l, const T* y, const T* x_dot, const T* b_dot, T bias_gain,
                                T* y_dot, const bias_act_op::rule<T>& r) {
        for_rows(l, [&](index_t row, index_t c) {
            const T bias = b_dot ? b_dot[c] * bias_gain : T(0);
            const T* ys = y + row * l.inner;
            const T* xs = x_dot + row * l.inner;
            T* out = y_dot + row * l.inner;
            for (index_t i = 0; i < l.inner; ++i) out[i] = r.factor(ys[i]) * (xs[i] + bias);
        });
    }

    // dx (data_mode) = dy * factor(y); db (param_mode, when db is given) = bias_gain * sum dx.
    // dx may alias dy.
    template <class T>
    static void backward(const channel_layout& l, const T* y, const T* dy, T* dx, T* db, T bias_gain,
                         core::grad_mode data_mode, core::grad_mode param_mode, const bias_act_op::rule<T>& r) {
        const bool want_db = db && param_mode != core::grad_mode::none;
        switch (data_mode) {
            case core::grad_mode::assign: return backward_as<core::grad_mode::assign>(l, y, dy, dx, want_db ? db : nullptr, bias_gain, param_mode, r);
            case core::grad_mode::accumulate: return backward_as<core::grad_mode::accumulate>(l, y, dy, dx, want_db ? db : nullptr, bias_gain, param_mode, r);
            case core::grad_mode::none: return backward_as<core::grad_mode::none>(l, y, dy, dx, want_db ? db : nullptr, bias_gain, param_mode, r);
        }
    }

private:
    // Lanes of the partial sums of db: enough independent adds to vectorise the reduction.
    static constexpr int lanes = 16;

    // One row of `inner` elements: dx (Mode) = dy * factor(y); returns the row's sum of dx when
    // Sum, accumulated in `lanes` partial sums in a fixed order (independent of the thread count).
    template <core::grad_mode Mode, bool Sum, class T>
    static T backward_row(index_t inner, const T* y, const T* dy, T* dx, const bias_act_op::rule<T>& r) {
        T part[lanes] = {};
        index_t i = 0;
        for (; i + lanes <= inner; i += lanes)
            for (int l = 0; l < lanes; ++l) {
                const T g = dy[i + l] * r.factor(y[i + l]);
                if constexpr (Mode != core::grad_mode::none) core::store_grad(dx[i + l], g, Mode);
                if constexpr (Sum) part[l] += g;
            }
        for (; i < inner; ++i) {
            const T g = dy[i] * r.factor(y[i]);
            if constexpr (Mode != core::grad_mode::none) core::store_grad(dx[i], g, Mode);
            if constexpr (Sum) part[0] += g;
        }
        T sum = T(0);
        if constexpr (Sum)
            for (int l = 0; l < lanes; ++l) sum += part[l];
        return sum;
    }

    template <core::grad_mode Mode, class T>
    static void backward_as(const channel_layout& l, const T* y, const T* dy, T* dx, T* db, T bias_gain,
                            core::grad_mode param_mode, const bias_act_op::rule<T>& r) {
        if (!db) {
            if constexpr (Mode != core::grad_mode::none)
                for_rows(l, [&](index_t row, index_t) {
                    const index_t o = row * l.inner;
                    backward_row<Mode, false>(l.inner, y + o, dy + o, dx + o, r);
                });
            return;
        }
        // Per channel, so that each db entry is one task's sum.
        const index_t per_channel = l.outer * l.inner;
        core::parallel_for(0, l.channels, std::max<index_t>(1, 16384 / std::max<index_t>(1, per_channel)),
                           [&](index_t c0, index_t c1) {
                               for (index_t c = c0; c < c1; ++c) {
                                   T sum = T(0);
                                   for (index_t n = 0; n < l.outer; ++n) {
                                       const index_t o = (n * l.channels + c) * l.inner;
                                       sum += backward_row<Mode, true>(l.inner, y + o, dy + o, dx + o, r);
                                   }
                                   core::store_grad(db[c], bias_gain * sum, param_mode);
                               }
                           });
    }

    // fn(row, channel) for every row of `inner` elements, in parallel.
    template <class Fn>
    static void for_rows(const channel_layout& l, const Fn& fn) {
        core::parallel_for(0, l.rows(), std::max<index_t>(1, 16384 / std::max<index_t>(1, l.inner)),
                           [&](index_t r0, index_t r1) {
                               for (index_t row = r0; row < r1; ++row) fn(row, row % l.channels);
                           });
    }
};

}  // namespace imbdef::ops
