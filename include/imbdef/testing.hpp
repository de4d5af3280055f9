#pragma once
// The testing tools shipped with imbdef: gradient checks of ops and modules against central finite
// differences with the grad_mode contract (testing/gradient_check.hpp), and checks of the tangent
// rules behind exact R1 (testing/second_order.hpp). Independent of any test framework.

#include "testing/check_input.hpp"
#include "testing/check_report.hpp"
#include "testing/gradient_check.hpp"
#include "testing/second_order.hpp"
