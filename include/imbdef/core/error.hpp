#pragma once
// imbdef::error: the one exception type of the library. Every message has three parts, so a user
// can act on it without reading our code: where it happened (op, tensor, file, layer), what was
// expected, and what was found.

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "macros.hpp"

namespace imbdef {

class error : public std::runtime_error {
public:
    error(std::string where, std::string expected, std::string found)
        : std::runtime_error(compose(where, expected, found)),
          where_(std::move(where)),
          expected_(std::move(expected)),
          found_(std::move(found)) {}

    const std::string& where() const noexcept { return where_; }
    const std::string& expected() const noexcept { return expected_; }
    const std::string& found() const noexcept { return found_; }

private:
    static std::string compose(const std::string& where, const std::string& expected,
                               const std::string& found) {
        return where + ": expected " + expected + ", found " + found;
    }

    std::string where_;
    std::string expected_;
    std::string found_;
};

// The message of a captured exception (what() of a std::exception), for reports that go on after
// it, such as a skipped file's reason; "an exception of unknown type" for anything else.
inline std::string message_of(const std::exception_ptr& e) {
    try {
        if (e) std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
    }
    return "an exception of unknown type";
}

}  // namespace imbdef

// Throws imbdef::error when `cond` is false. The message arguments are evaluated only on failure,
// so they may build strings freely without costing anything on the good path.
#define IMBDEF_REQUIRE(cond, where, expected, found)                 \
    do {                                                             \
        if (IMBDEF_UNLIKELY(!(cond))) {                              \
            throw ::imbdef::error((where), (expected), (found));     \
        }                                                            \
    } while (0)
