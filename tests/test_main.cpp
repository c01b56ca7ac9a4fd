#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

int main(int argc, char** argv) {
    // httplib's client (0.11.4) writes without MSG_NOSIGNAL: a server that answers and
    // closes before a request is sent whole (a 413) would otherwise kill the test process.
    std::signal(SIGPIPE, SIG_IGN);
    return doctest::Context(argc, argv).run();
}
