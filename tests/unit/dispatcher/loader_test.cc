// The bindings YAML loader: defaults, every field, and validation messages that name the file,
// line and field, all collected.
#include "bindings/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "smtpbridge/v1/names.h"

namespace smtpbridge::dispatcher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(LoaderTest, LoadsEveryFieldAndAppliesDefaults) {
  const auto result = LoadBindingsText(R"(defaults:
  timeout: 50ms
  instance: 2
bindings:
  - name: reject-blocked-rcpt
    id: 7d3f
    event: OnSmtpInboundCommand
    rule: "RCPT TO=*@blocked.example;MAIL FROM=*@spam.example"
    priority: PRIO_HIGH
    sink: ipv4:127.0.0.1:50051
    sink_properties: {blocked: "blocked@example.com", max: 10, list: [a, b, 3]}
    on_error: tempfail
    mode: observe
    enabled: false
  - name: eod
    instance: 1
    event: EVENT_TYPE_INBOUND_COMMAND
    rule: _EOD
    sink: dns:///policy:50051
    timeout: 1.5s
    body_limit: 65536
)",
                                       "bindings.yaml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  const auto& bindings = result.set->bindings();
  ASSERT_EQ(bindings.size(), 2u);
  const auto& a = bindings[0].proto;
  EXPECT_EQ(a.name(), "reject-blocked-rcpt");
  EXPECT_EQ(a.id(), "7d3f");
  EXPECT_EQ(a.instance(), 2u);
  EXPECT_EQ(a.event(), v1::EVENT_TYPE_INBOUND_COMMAND);
  EXPECT_EQ(a.priority(), 8191u);
  EXPECT_EQ(a.sink(), "ipv4:127.0.0.1:50051");
  EXPECT_EQ(a.sink_properties().at("blocked"), "blocked@example.com");
  EXPECT_EQ(a.sink_properties().at("max"), "10");
  EXPECT_EQ(a.sink_properties().at("list"), "a,b,3");
  EXPECT_EQ(bindings[0].timeout, std::chrono::milliseconds(50));
  EXPECT_EQ(a.on_error(), v1::ON_ERROR_TEMPFAIL);
  EXPECT_EQ(a.mode(), v1::BINDING_MODE_OBSERVE);
  EXPECT_FALSE(a.enabled());
  EXPECT_EQ(a.source(), "bindings.yaml:5");
  const auto& b = bindings[1].proto;
  EXPECT_EQ(b.id(), "eod");  // defaults to the name
  EXPECT_EQ(b.instance(), 1u);
  EXPECT_EQ(b.priority(), 24575u);
  EXPECT_EQ(b.on_error(), v1::ON_ERROR_CONTINUE);
  EXPECT_EQ(b.mode(), v1::BINDING_MODE_ENFORCE);
  EXPECT_TRUE(b.enabled());
  EXPECT_EQ(b.body_limit(), 65536u);
  EXPECT_EQ(bindings[1].timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(v1::FromProtoDuration(b.timeout()), std::chrono::milliseconds(1500));
}

TEST(LoaderTest, PriorityNames) {
  const auto result = LoadBindingsText(R"(bindings:
  - {name: a, event: CONNECT, sink: "x:1", priority: PRIO_HIGHEST}
  - {name: b, event: CONNECT, sink: "x:1", priority: prio_medium}
  - {name: c, event: CONNECT, sink: "x:1", priority: PRIO_LOW}
  - {name: d, event: CONNECT, sink: "x:1", priority: PRIO_DEFAULT}
  - {name: e, event: CONNECT, sink: "x:1", priority: PRIO_LOWEST}
  - {name: f, event: CONNECT, sink: "x:1", priority: 32767}
  - {name: g, event: CONNECT, sink: "x:1", priority: 0}
)",
                                       "b.yaml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  std::vector<uint32_t> priorities;
  for (const auto& b : result.set->bindings()) priorities.push_back(b.priority());
  EXPECT_THAT(priorities, ElementsAre(0, 16383, 24575, 24575, 32767, 32767, 0));
}

TEST(LoaderTest, ReportsFileLineAndFieldForEachMistakeAndCollectsThemAll) {
  const auto result = LoadBindingsText(R"(bindings:
  - name: ok-one
    event: INBOUND_COMMAND
    sink: ipv4:127.0.0.1:50051
  - name: second
    event: INBOUND_COMMAND
    sink: ipv4:127.0.0.1:50051
  - name: third
    event: INBOUND_COMMAND
    rule: RCPT
    sink: ipv4:127.0.0.1:50051
    priority: PRIO_HUGE
  - name: fourth
    event: ON_SMTP_NOTHING
    sink: ipv4:127.0.0.1:50051
    timeout: 5 parsecs
    on_error: explode
    mode: loud
    enabled: perhaps
    prority: 3
  - name: ok-one
    event: CONNECT
    sink: ipv4:127.0.0.1:50051
  - event: CONNECT
    rule: "MAIL FROM=x"
    timeout: 2m
    instance: 0
    sink_properties: {nested: {a: b}}
)",
                                       "bindings.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(
      result.errors,
      ElementsAre(
          "bindings.yaml:12: bindings[2].priority: \"PRIO_HUGE\" is not a number 0..32767 or a "
          "PRIO_* name",
          "bindings.yaml:20: bindings[3].prority: unknown key (expected one of: name, id, "
          "instance, "
          "event, rule, priority, sink, sink_properties, timeout, on_error, on_error_reply, mode, "
          "enabled, body_limit, hedge_after, tls)",
          HasSubstr(
              "bindings.yaml:14: bindings[3].event: \"ON_SMTP_NOTHING\" is not an event type"),
          "bindings.yaml:16: bindings[3].timeout: \"5 parsecs\" is not a duration (e.g. \"50ms\", "
          "\"1.5s\")",
          "bindings.yaml:17: bindings[3].on_error: \"explode\" is not one of continue, tempfail, "
          "reject",
          "bindings.yaml:18: bindings[3].mode: \"loud\" is not one of enforce, observe",
          "bindings.yaml:19: bindings[3].enabled: \"perhaps\" is not true or false",
          "bindings.yaml:21: bindings[4].name: duplicate name \"ok-one\" (first declared on line "
          "2)",
          "bindings.yaml:26: bindings[5].timeout: \"2m\" is out of range 1ms..60s",
          "bindings.yaml:27: bindings[5].instance: \"0\" is not an instance number 1..65535",
          "bindings.yaml:28: bindings[5].sink_properties.nested: maps are not allowed as property "
          "values (use a string or a list)",
          "bindings.yaml:24: bindings[5].name: required",
          "bindings.yaml:24: bindings[5].sink: required",
          HasSubstr("bindings.yaml:25: bindings[5].rule: \"MAIL FROM=x\": CONNECT bindings take")));
}

TEST(LoaderTest, OnErrorReplyIsParsedAndMustFitOnError) {
  const auto ok = LoadBindingsText(R"(defaults:
  on_error: tempfail
  on_error_reply: "450 4.7.0 Try again later"
bindings:
  - {name: a, event: CONNECT, sink: "ipv4:127.0.0.1:1"}
  - {name: b, event: CONNECT, sink: "ipv4:127.0.0.1:1", on_error: reject, on_error_reply: "554 Go away"}
  - {name: c, event: CONNECT, sink: "ipv4:127.0.0.1:1", on_error: continue}
)",
                                   "r.yaml");
  ASSERT_TRUE(ok.ok()) << ::testing::PrintToString(ok.errors);
  EXPECT_EQ(v1::ReplyText(ok.set->bindings()[0].proto.on_error_reply()),
            "450 4.7.0 Try again later");
  EXPECT_EQ(v1::ReplyText(ok.set->bindings()[1].proto.on_error_reply()), "554 Go away");
  EXPECT_FALSE(ok.set->bindings()[2].proto.has_on_error_reply());
  const auto bad = LoadBindingsText(R"(bindings:
  - {name: a, event: CONNECT, sink: "ipv4:127.0.0.1:1", on_error: tempfail, on_error_reply: "550 no"}
  - {name: b, event: CONNECT, sink: "ipv4:127.0.0.1:1", on_error: tempfail, on_error_reply: "421 bye"}
  - {name: c, event: CONNECT, sink: "ipv4:127.0.0.1:1", on_error: reject, on_error_reply: "55x"}
  - {name: d, event: CONNECT, sink: "ipv4:127.0.0.1:1", on_error: reject, on_error_reply: "550 4.7.1 x"}
)",
                                    "r.yaml");
  EXPECT_THAT(
      bad.errors,
      ElementsAre(
          "r.yaml:2: bindings[0].on_error_reply: 550 does not fit on_error tempfail (a 4xx other "
          "than 421)",
          "r.yaml:3: bindings[1].on_error_reply: 421 does not fit on_error tempfail (a 4xx other "
          "than 421)",
          HasSubstr("r.yaml:4: bindings[2].on_error_reply: \"55x\" is not a reply"),
          HasSubstr(
              "r.yaml:5: bindings[3].on_error_reply: \"550 4.7.1 x\": the enhanced code's class")));
}

TEST(LoaderTest, DefaultsAreValidatedToo) {
  const auto result =
      LoadBindingsText("defaults:\n  timeout: 0.1us\n  colour: blue\nbindings: []\n", "d.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.errors,
              ElementsAre(HasSubstr("d.yaml:3: defaults.colour: unknown key"),
                          "d.yaml:2: defaults.timeout: \"0.1us\" is out of range 1ms..60s"));
}

TEST(LoaderTest, StructuralErrors) {
  EXPECT_THAT(LoadBindingsText("", "e.yaml").errors,
              ElementsAre("e.yaml:1: empty file: expected a map with a \"bindings\" list"));
  EXPECT_THAT(LoadBindingsText("bindings: [\n", "e.yaml").errors,
              ElementsAre(HasSubstr("YAML syntax error")));
  EXPECT_THAT(LoadBindingsText("- a\n- b\n", "e.yaml").errors,
              ElementsAre(HasSubstr("e.yaml:1: expected a map")));
  EXPECT_THAT(LoadBindingsText("bindings: {a: b}\n", "e.yaml").errors,
              ElementsAre("e.yaml:1: bindings: expected a list of bindings, got a map"));
  EXPECT_THAT(LoadBindingsText("bindings:\n  - just a string\n", "e.yaml").errors,
              ElementsAre("e.yaml:2: bindings[0]: expected a map, got \"just a string\""));
  EXPECT_THAT(LoadBindingsText("bindings: []\nbindngs: []\n", "e.yaml").errors,
              ElementsAre(HasSubstr("e.yaml:2: bindngs: unknown key")));
  EXPECT_THAT(
      LoadBindingsText("bindings:\n  - {name: a, name: b, event: CONNECT, sink: x}\n", "e.yaml")
          .errors,
      ElementsAre("e.yaml:2: bindings[0].name: duplicate key"));
  EXPECT_THAT(
      LoadBindingsText("bindings:\n  - {name: 'a b', event: CONNECT, sink: x}\n", "e.yaml").errors,
      ElementsAre(HasSubstr("e.yaml:2: bindings[0].name: \"a b\" must be")));
  EXPECT_THAT(LoadBindingsText(
                  "bindings:\n  - {name: a, event: CONNECT, sink: x, body_limit: 10}\n", "e.yaml")
                  .errors,
              ElementsAre(HasSubstr("bindings[0].body_limit: only INBOUND_COMMAND")));
  EXPECT_TRUE(LoadBindingsText("bindings: []\n", "e.yaml").ok());
}

TEST(LoaderTest, HedgeAfterMustBeShorterThanTheTimeout) {
  const auto ok = LoadBindingsText(
      "bindings:\n  - {name: a, event: CONNECT, sink: x, timeout: 50ms, hedge_after: 5ms}\n",
      "h.yaml");
  ASSERT_TRUE(ok.ok()) << ::testing::PrintToString(ok.errors);
  EXPECT_EQ(ok.set->bindings()[0].hedge_after, std::chrono::milliseconds(5));
  EXPECT_THAT(LoadBindingsText("bindings:\n  - {name: a, event: CONNECT, sink: x, timeout: 50ms, "
                               "hedge_after: 50ms}\n",
                               "h.yaml")
                  .errors,
              ElementsAre("h.yaml:2: bindings[0].hedge_after: must be shorter than the timeout, or "
                          "no hedge is ever sent"));
  EXPECT_THAT(
      LoadBindingsText("bindings:\n  - {name: a, event: CONNECT, sink: x, hedge_after: 1us}\n",
                       "h.yaml")
          .errors,
      ElementsAre(
          "h.yaml:2: bindings[0].hedge_after: \"1us\" is not a duration of at least 100us"));
}

TEST(LoaderTest, MissingFileIsAnError) {
  const auto result = LoadBindingsFile("/nonexistent/bindings.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.errors, ElementsAre(HasSubstr("/nonexistent/bindings.yaml:1: cannot read")));
}

TEST(BindingSetTest, MatchesByInstanceEventAndRuleInPriorityThenDeclarationOrder) {
  const auto result = LoadBindingsText(R"(bindings:
  - {name: low, event: INBOUND_COMMAND, rule: RCPT, sink: x, priority: 30000}
  - {name: tie-first, event: INBOUND_COMMAND, rule: "*", sink: x, priority: 100}
  - {name: high, event: INBOUND_COMMAND, rule: "RCPT TO=*@b", sink: x, priority: 5}
  - {name: tie-second, event: INBOUND_COMMAND, rule: RCPT, sink: x, priority: 100}
  - {name: disabled, event: INBOUND_COMMAND, rule: RCPT, sink: x, enabled: false}
  - {name: other-instance, instance: 2, event: INBOUND_COMMAND, rule: RCPT, sink: x}
  - {name: other-rule, event: INBOUND_COMMAND, rule: MAIL, sink: x}
  - {name: other-event, event: CONNECT, sink: x}
)",
                                       "m.yaml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  v1::Event e;
  e.set_type(v1::EVENT_TYPE_INBOUND_COMMAND);
  e.mutable_session()->set_instance(1);
  e.mutable_command()->set_keyword("RCPT");
  e.mutable_command()->set_argument("TO:<a@b>");
  std::vector<const CompiledBinding*> matched;
  result.set->Match(e, &matched);
  std::vector<std::string> names;
  for (const auto* b : matched) names.push_back(b->name());
  EXPECT_THAT(names, ElementsAre("high", "tie-first", "tie-second", "low"));
}

TEST(BindingSetTest, InterestsListKeywordsAndBodyLimit) {
  const auto result = LoadBindingsText(R"(bindings:
  - {name: a, event: INBOUND_COMMAND, rule: "RCPT TO=*@b;MAIL", sink: x}
  - {name: b, event: INBOUND_COMMAND, rule: _EOD, sink: x, body_limit: 1000}
  - {name: c, event: INBOUND_COMMAND, rule: _EOD, sink: x, body_limit: 5000}
  - {name: d, event: INBOUND_COMMAND, rule: _EOD, sink: x, body_limit: 99999, enabled: false}
  - {name: e, event: SERVER_RESPONSE, rule: "5*", sink: x}
  - {name: f, instance: 3, event: CONNECT, sink: x}
)",
                                       "i.yaml");
  ASSERT_TRUE(result.ok()) << ::testing::PrintToString(result.errors);
  const auto all = result.set->Interests(0);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].event(), v1::EVENT_TYPE_INBOUND_COMMAND);
  EXPECT_THAT(all[0].keywords(), ElementsAre("MAIL", "RCPT", "_EOD"));
  EXPECT_EQ(all[0].body_limit(), 5000u);
  EXPECT_EQ(all[1].event(), v1::EVENT_TYPE_SERVER_RESPONSE);
  EXPECT_TRUE(all[1].keywords().empty());  // a reply-code rule: any command
  EXPECT_EQ(all[2].instance(), 3u);
  EXPECT_EQ(result.set->Interests(3).size(), 1u);
}

}  // namespace
}  // namespace smtpbridge::dispatcher

namespace smtpbridge::dispatcher {
namespace {

// Odd but possible inputs: each either loads or yields errors; never a crash or an exception.
TEST(LoaderTest, OddYamlGivesErrorsNotCrashes) {
  const std::vector<std::string> inputs = {
      "bindings:\n  - &a {name: x, event: CONNECT, sink: y}\n  - *a\n",  // alias: duplicate name
      "? [complex, key]\n: value\nbindings: []\n",
      "bindings:\n  - {? [k] : v, name: x, event: CONNECT, sink: y}\n",
      "bindings:\n  - {name: !!binary aGVsbG8=, event: CONNECT, sink: y}\n",
      "bindings:\n  - {name: x, event: [a, b], sink: {a: b}, rule: [x], priority: [1]}\n",
      "bindings:\n  - {name: x, event: CONNECT, sink: y, timeout: -5ms, body_limit: -1}\n",
      "bindings:\n  - {name: x, event: CONNECT, sink: y, instance: 99999999999999999999}\n",
      "defaults: [1, 2]\nbindings: 7\n",
      "bindings:\n  - ~\n  - []\n  - 3\n",
      std::string("bindings:\n  - {name: \"\xff\xfe\", event: CONNECT, sink: y}\n"),
      "\t- not yaml at all: [\n",
      "%YAML 1.2\n---\nbindings: []\n---\nbindings: []\n",
      "bindings:\n  - {name: x, event: INBOUND_COMMAND, sink: y, rule: \"" +
          std::string(5000, '*') + "\"}\n",
  };
  for (const auto& input : inputs) {
    LoadResult result;
    ASSERT_NO_THROW(result = LoadBindingsText(input, "odd.yaml")) << input;
    EXPECT_TRUE(result.ok() || !result.errors.empty()) << input;
    for (const auto& e : result.errors) EXPECT_THAT(e, ::testing::StartsWith("odd.yaml:")) << input;
  }
  // The alias case is a duplicate name, reported as such.
  EXPECT_THAT(LoadBindingsText(inputs[0], "odd.yaml").errors,
              ElementsAre(HasSubstr("bindings[1].name: duplicate name \"x\"")));
}

}  // namespace
}  // namespace smtpbridge::dispatcher
