#pragma once
// The per-element rules of elementwise arithmetic (ops/arithmetic.hpp), as functors for map_op.
//
//   add    y = a + b              da = dy             db = dy
//   sub    y = a - b              da = dy             db = -dy
//   mul    y = a b                da = dy b           db = dy a
//   scale  y = alpha x            dx = alpha dy
//   axpby  y = alpha a + beta b   da = alpha dy       db = beta dy
//   lerp   y = a + t (b - a)      da = (1 - t) dy     db = t dy      (reference: lerp(a, b, t))
// All but mul are linear: their tangents are the ops themselves applied to the tangents. mul is
// bilinear: y_dot = a_dot b + a b_dot, da_dot = dy_dot b + dy b_dot, db_dot = dy_dot a + dy a_dot,
// each of the form p q + r s (dot2).

#include "../../core/macros.hpp"

namespace imbdef::ops::map_fn {

struct add {
    template <class T>
    IMBDEF_HD T operator()(T a, T b) const noexcept { return a + b; }
};

struct sub {
    template <class T>
    IMBDEF_HD T operator()(T a, T b) const noexcept { return a - b; }
};

struct mul {
    template <class T>
    IMBDEF_HD T operator()(T a, T b) const noexcept { return a * b; }
};

struct identity {
    template <class T>
    IMBDEF_HD T operator()(T a) const noexcept { return a; }
};

struct negate {
    template <class T>
    IMBDEF_HD T operator()(T a) const noexcept { return -a; }
};

template <class T>
struct scale {
    T alpha;
    IMBDEF_HD T operator()(T x) const noexcept { return alpha * x; }
};

template <class T>
struct axpby {
    T alpha, beta;
    IMBDEF_HD T operator()(T a, T b) const noexcept { return alpha * a + beta * b; }
};

// a + t (b - a), the reference's form: exactly a at t = 0.
template <class T>
struct lerp {
    T t;
    IMBDEF_HD T operator()(T a, T b) const noexcept { return a + t * (b - a); }
};

// p q + r s: the product rule of a bilinear op.
struct dot2 {
    template <class T>
    IMBDEF_HD T operator()(T p, T q, T r, T s) const noexcept { return p * q + r * s; }
};

}  // namespace imbdef::ops::map_fn
