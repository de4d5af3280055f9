// A composite over something that is not a module must stop at one readable message.
#include <imbdef/nn/sequential.hpp>

struct not_a_module {
    int width = 3;
};

imbdef::nn::sequential<not_a_module> broken;
