// Must not compile: <imbdef/cuda.hpp> from a translation unit that g++ compiles alone.
#include <imbdef/cuda.hpp>

int main() { return 0; }
