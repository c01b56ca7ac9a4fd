// Helpers of the serve suites: raw connections (for what an HTTP client library
// would not send), server-sent events, and posting JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wkv::test {

// A connection to 127.0.0.1:port (the test fails if it cannot be made).
int connect_to(int port);
// Everything the server sends on `fd` until it closes, or `quiet_ms` pass without a byte.
std::string read_all(int fd, int quiet_ms);
// Sends `bytes` on a new connection, returns what comes back.
std::string send_raw(int port, const std::string& bytes, int quiet_ms = 3000);
// The JSON body of the first HTTP response in `raw`.
nlohmann::json body_of(const std::string& raw);
// The events of a streamed reply, parsed; `done` is set if it ended with [DONE].
std::vector<nlohmann::json> events_of(const std::string& body, bool* done);
// The streamed text of a chat or completion stream: its deltas (or texts) joined.
std::string streamed_text(const std::vector<nlohmann::json>& events);
// POSTs `body` to `path`; the reply's body, and its status in *status.
std::string post(int port, const std::string& path, const nlohmann::json& body, int timeout_s = 60,
                 int* status = nullptr);

}  // namespace wkv::test
