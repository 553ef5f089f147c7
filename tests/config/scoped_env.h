// tests/config/scoped_env.h: sets (or, with nullptr, unsets) an environment variable for one
// test and puts the old value back, for the config tests that read DD_API_KEY and friends.
#ifndef TALLYD_TESTS_CONFIG_SCOPED_ENV_H_
#define TALLYD_TESTS_CONFIG_SCOPED_ENV_H_

#include <stdlib.h>

#include <optional>
#include <string>

namespace tallyd {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_.has_value()) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace tallyd

#endif  // TALLYD_TESTS_CONFIG_SCOPED_ENV_H_
