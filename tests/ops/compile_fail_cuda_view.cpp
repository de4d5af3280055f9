// Must not compile: an op on core::cuda views in a translation unit without <imbdef/cuda.hpp>.
#include <imbdef/ops/leaky_relu.hpp>

int main() {
    imbdef::core::view<float, imbdef::core::cuda> x, y;
    imbdef::ops::leaky_relu(x, y);
    return 0;
}
