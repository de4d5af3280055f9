#pragma once
// The CPU backend of ops::fully_connected: GEMMs of the GEMM core (gemm.hpp) and the bias_act
// backend. Arguments are checked by the front end (ops/fully_connected.hpp).

#include "../../core/grad_mode.hpp"
#include "../../core/scratch.hpp"
#include "../backend.hpp"
#include "../def/fully_connected.hpp"
#include "bias_act.hpp"
#include "gemm.hpp"

namespace imbdef::ops {

// Sizes and gains of one call.
template <class T>
struct fc_shape {
    core::index_t n, in, out;
    T wg, bg;
    bias_act_op::rule<T> rule;
    bool identity;  // the activation is the identity apart from the bias
    channel_layout layout() const { return {n, out, 1}; }
};

template <>
struct backend<fully_connected_op, core::cpu> {
    using index_t = core::index_t;
    using act = backend<bias_act_op, core::cpu>;

    template <class T>
    static void forward(const fc_shape<T>& s, const T* x, const T* w, const T* b, T* y) {
        product(s, x, w, y, false);
        if (b || !s.identity) act::forward(s.layout(), y, b, s.bg, y, s.rule);
    }

    // y_dot = factor(y) (g_w (x_dot W^T + x W_dot^T) + g_b b_dot); w_dot, b_dot may be null (zero).
    template <class T>
    static void forward_tangent(const fc_shape<T>& s, const T* x, const T* w, const T* y, const T* x_dot,
                                const T* w_dot, const T* b_dot, T* y_dot) {
        product(s, x_dot, w, y_dot, false);
        if (w_dot) product(s, x, w_dot, y_dot, true);
        act::forward_tangent(s.layout(), y, y_dot, b_dot, s.bg, y_dot, s.rule);
    }

    // dx (data_mode) = g_w g W; dw, db (param_mode; db may be null) = g_w g^T x, g_b sum g.
    template <class T>
    static void backward(const fc_shape<T>& s, const T* x, const T* w, const T* y, const T* dy, T* dx, T* dw, T* db,
                         core::grad_mode data_mode, core::grad_mode param_mode) {
        core::scratch_scope scope;
        const T* g = pre_activation_gradient(scope, s, y, dy, db, param_mode);
        weight_products(s, x, w, g, dx, dw, data_mode, param_mode);
    }

    // dx_dot = g_w (g_dot W + g W_dot), dw_dot = g_w (g_dot^T x + g^T x_dot), db_dot = g_b sum g_dot;
    // w_dot may be null (zero).
    template <class T>
    static void backward_tangent(const fc_shape<T>& s, const T* x, const T* w, const T* y, const T* x_dot,
                                 const T* w_dot, const T* dy, const T* dy_dot, T* dx_dot, T* dw_dot, T* db_dot,
                                 core::grad_mode data_mode, core::grad_mode param_mode) {
        core::scratch_scope scope;
        const T* g = pre_activation_gradient(scope, s, y, dy, static_cast<T*>(nullptr), core::grad_mode::none);
        const T* g_dot = pre_activation_gradient(scope, s, y, dy_dot, db_dot, param_mode);
        weight_products(s, x, w, g_dot, dx_dot, dw_dot, data_mode, param_mode);
        const bool add = true;
        if (data_mode != core::grad_mode::none && w_dot)
            gemm::matmul<T>(s.n, s.in, s.out, s.wg, g, s.out, 1, w_dot, s.in, 1, dx_dot, s.in, add);
        if (param_mode != core::grad_mode::none)
            gemm::matmul<T>(s.out, s.in, s.n, s.wg, g, 1, s.out, x_dot, s.in, 1, dw_dot, s.in, add);
    }

private:
    // Batches up to this size take dot products (the weight is then read once, untransposed).
    static constexpr index_t small_batch = 16;

    // y (+)= g_w x W^T.
    template <class T>
    static void product(const fc_shape<T>& s, const T* x, const T* w, T* y, bool add) {
        if (s.n <= small_batch)
            gemm::matmul_nt<T>(s.n, s.out, s.in, s.wg, x, s.in, w, s.in, y, s.out, add);
        else
            gemm::matmul<T>(s.n, s.out, s.in, s.wg, x, s.in, 1, w, 1, s.in, y, s.out, add);
    }

    // g = dy * factor(y) (dy itself for an identity activation); db (mode) = g_b sum_n g when db.
    template <class T>
    static const T* pre_activation_gradient(core::scratch_scope<>& scope, const fc_shape<T>& s, const T* y, const T* dy,
                                            T* db, core::grad_mode param_mode) {
        if (s.identity) {
            if (db) act::backward(s.layout(), y, dy, static_cast<T*>(nullptr), db, s.bg, core::grad_mode::none, param_mode,
                                  s.rule);
            return dy;
        }
        T* g = scope.allocate<T>(core::shape{s.n * s.out}).data();
        act::backward(s.layout(), y, dy, g, db, s.bg, core::grad_mode::assign, param_mode, s.rule);
        return g;
    }

    template <class T>
    static void weight_products(const fc_shape<T>& s, const T* x, const T* w, const T* g, T* dx, T* dw,
                                core::grad_mode data_mode, core::grad_mode param_mode) {
        if (data_mode != core::grad_mode::none)
            gemm::matmul<T>(s.n, s.in, s.out, s.wg, g, s.out, 1, w, s.in, 1, dx, s.in,
                            data_mode == core::grad_mode::accumulate);
        if (param_mode != core::grad_mode::none)
            gemm::matmul<T>(s.out, s.in, s.n, s.wg, g, 1, s.out, x, s.in, 1, dw, s.in,
                            param_mode == core::grad_mode::accumulate);
    }
};

}  // namespace imbdef::ops
