// wkv conformance: every shader against the CPU reference on the chosen
// device (or every device), with the Khronos validation layer on when it is
// installed. Besides the table, results for CI systems and for comparing GPUs:
// --json (every case with the device, driver, Vulkan version and subgroup
// size) and --junit (JUnit XML, a test suite per device).
#include "conformance.hpp"

#include <cstdio>
#include <optional>
#include <regex>

#include "commands.hpp"
#include "output.hpp"

namespace wkv {

const CommandSpec kConformanceCommand{
    "conformance",
    "Checks every shader against the CPU reference on a Vulkan device.",
    "Checks every shader against the CPU reference on a Vulkan device and prints a pass/fail table\n"
    "with the worst error per case. Exit code 0 when all pass, 1 otherwise.",
    {
        device_flag(),
        {"--all-devices", "", "", "check every Vulkan device, one after another"},
        {"--filter", "", "REGEX", "report and judge only the cases whose 'shader case' matches (ECMAScript regex)"},
        {"--json", "", "PATH",
         "also write every case as JSON, with its device, driver, Vulkan version and subgroup size"},
        {"--junit", "", "PATH", "also write JUnit XML (a test suite per device, a test case per check)"},
        {"--help", "-h", "", "show this help"},
    },
};

namespace {

struct DeviceRun {
    DeviceInfo device;
    std::vector<ConformanceResult> results;  // those the filter keeps
    std::vector<std::string> validation;     // the layer's messages
    bool validated = false;
};

int failures_of(const DeviceRun& run) {
    int n = 0;
    for (const ConformanceResult& r : run.results) n += !r.pass();
    return n;
}

nlohmann::json results_json(const std::vector<DeviceRun>& runs) {
    nlohmann::json cases = nlohmann::json::array();
    for (const DeviceRun& run : runs) {
        const DeviceInfo& d = run.device;
        const nlohmann::json device = {
            {"index", d.index},           {"name", d.name},          {"type", d.type},
            {"driver", d.driver},         {"vulkan", d.api_version}, {"subgroup_size", d.subgroup_size},
            {"validation", run.validated}};
        for (const ConformanceResult& r : run.results) {
            cases.push_back({{"device", device},
                             {"shader", r.shader},
                             {"case", r.case_name},
                             {"worst", r.worst},
                             {"tolerance", r.tolerance},
                             {"measure", r.measure},
                             {"pass", r.pass()}});
        }
    }
    nlohmann::json validation = nlohmann::json::array();
    for (const DeviceRun& run : runs) {
        for (const std::string& m : run.validation)
            validation.push_back({{"device", run.device.index}, {"message", m}});
    }
    return {{"cases", cases}, {"validation_messages", validation}};
}

std::string junit_xml(const std::vector<DeviceRun>& runs) {
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"wkv conformance\">\n";
    for (const DeviceRun& run : runs) {
        const DeviceInfo& d = run.device;
        // The validation layer's messages are one more case, failed when there are any.
        const size_t tests = run.results.size() + 1;
        const int failures = failures_of(run) + !run.validation.empty();
        out += "  <testsuite name=\"" + xml_escaped("device " + std::to_string(d.index) + ": " + d.name) +
               "\" tests=\"" + std::to_string(tests) + "\" failures=\"" + std::to_string(failures) +
               "\" errors=\"0\">\n    <properties>\n";
        for (const auto& [name, value] : {std::pair<std::string, std::string>{"driver", d.driver},
                                          {"vulkan", d.api_version},
                                          {"subgroup_size", std::to_string(d.subgroup_size)},
                                          {"validation", run.validated ? "on" : "off"}}) {
            out += "      <property name=\"" + name + "\" value=\"" + xml_escaped(value) + "\"/>\n";
        }
        out += "    </properties>\n";
        for (const ConformanceResult& r : run.results) {
            out +=
                "    <testcase classname=\"" + xml_escaped(r.shader) + "\" name=\"" + xml_escaped(r.case_name) + "\"";
            if (r.pass()) {
                out += "/>\n";
                continue;
            }
            char detail[160];
            std::snprintf(detail, sizeof detail, "worst %.3g > tolerance %.0e", r.worst, r.tolerance);
            out += ">\n      <failure message=\"" + xml_escaped(std::string(detail) + " (" + r.measure + ")") +
                   "\"/>\n    </testcase>\n";
        }
        out += "    <testcase classname=\"validation\" name=\"no validation messages\"";
        if (run.validation.empty()) {
            out += "/>\n";
        } else {
            out += ">\n      <failure message=\"" + std::to_string(run.validation.size()) + " messages\">";
            for (const std::string& m : run.validation) out += xml_escaped(m) + "\n";
            out += "</failure>\n    </testcase>\n";
        }
        out += "  </testsuite>\n";
    }
    return out + "</testsuites>\n";
}

}  // namespace

int run_conformance_command(const Args& args) {
    // Files and the filter are checked before any device work.
    std::optional<OutputFile> json_file, junit_file;
    if (args.has("--json")) json_file.emplace(args.required_text("--json"), "--json");
    if (args.has("--junit")) junit_file.emplace(args.required_text("--junit"), "--junit");
    std::optional<std::regex> filter;
    if (args.has("--filter")) {
        const std::string pattern = args.required_text("--filter");
        try {
            filter.emplace(pattern, std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
            throw Error("--filter " + wkv::quoted(pattern) + " is not a regular expression: " + e.what());
        }
    }
    if (args.has("--all-devices") && args.has("--device"))
        throw Error(std::string("--all-devices and --device exclude each other"));

    std::vector<ContextOptions> devices;
    if (args.has("--all-devices")) {
        for (const DeviceInfo& d : list_devices()) devices.push_back(ContextOptions{d.index, false});
    } else {
        devices.push_back(context_options(args));
    }
    const bool validation = validation_layer_available();
    if (!validation) std::fprintf(stderr, "wkv: the Vulkan validation layer is not installed; checking without it\n");

    std::vector<DeviceRun> runs;
    int failed = 0;
    for (ContextOptions options : devices) {
        options.validation = validation;
        const auto ctx = std::make_unique<Context>(options);
        DeviceRun run{ctx->info(), {}, {}, ctx->validation_enabled()};
        // The table is printed once the device's run is over, so that a filter that
        // matches nothing is an error with nothing printed before it.
        std::string table;
        auto print = [&table](const char* format, auto... values) {
            char line[1024];
            std::snprintf(line, sizeof line, format, values...);
            table += line;
        };
        print("%sdevice %u: %s (%s, Vulkan %s, subgroup size %u)\n\n", runs.empty() ? "" : "\n", run.device.index,
              run.device.name.c_str(), run.device.driver.c_str(), run.device.api_version.c_str(),
              run.device.subgroup_size);
        print("%-22s %-52s %12s %10s  %s\n", "shader", "case", "worst", "tolerance", "result");
        for (ConformanceResult& r : run_conformance(*ctx)) {
            if (filter && !std::regex_search(r.shader + " " + r.case_name, *filter)) continue;
            print("%-22s %-52s %12.3g %10.0e  %s   (%s)\n", r.shader.c_str(), r.case_name.c_str(), r.worst, r.tolerance,
                  r.pass() ? "pass" : "FAIL", r.measure.c_str());
            run.results.push_back(std::move(r));
        }
        if (run.results.empty()) throw Error("--filter " + wkv::quoted(args.text("--filter")) + " matches no case");
        run.validation = ctx->validation_messages();
        for (const std::string& m : run.validation) table += "validation: " + m + "\n";  // of any length
        const int failures = failures_of(run);
        print("\n%s: %d failed, %zu validation messages, %zu cases%s\n",
              failures || !run.validation.empty() ? "FAIL" : "PASS", failures, run.validation.size(),
              run.results.size(), run.validated ? "" : " (validation layer off)");
        std::fputs(table.c_str(), stdout);
        std::fflush(stdout);
        failed += failures + !run.validation.empty();
        runs.push_back(std::move(run));
    }
    if (json_file) json_file->write(results_json(runs));
    if (junit_file) junit_file->write(junit_xml(runs));
    return failed ? 1 : 0;
}

}  // namespace wkv
