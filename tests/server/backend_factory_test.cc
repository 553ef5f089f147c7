// Which backends a reloaded config leaves untouched (a SIGHUP restarts only the others), and
// the settings a running backend takes in place.
#include "server/backend_factory.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/time/time.h"
#include "backends/clock.h"
#include "config/config.h"

namespace tallyd::server {
namespace {

Config AllBackends() {
  Config config;
  config.prometheus = PrometheusConfig{};
  config.prometheus->listen = "127.0.0.1:0";
  config.graphite = GraphiteConfig{};
  config.datadog = DatadogConfig{};
  config.console = ConsoleConfig{};
  config.remote_write = RemoteWriteConfig{};
  config.remote_write->url = "http://127.0.0.1:1/api/v1/write";
  return config;
}

bool Changed(const Config& running, const Config& fresh, BackendKind kind) {
  return BackendSettingsChanged(running, fresh, kind);
}

TEST(BackendFactoryTest, AnIdenticalConfigChangesNoBackend) {
  for (BackendKind kind : kBackendKinds) {
    EXPECT_FALSE(Changed(AllBackends(), AllBackends(), kind)) << BackendName(kind);
  }
}

TEST(BackendFactoryTest, OnlyTheBackendWhoseSectionChangedIsChanged) {
  Config fresh = AllBackends();
  fresh.graphite->global_prefix = "other";
  EXPECT_TRUE(Changed(AllBackends(), fresh, BackendKind::kGraphite));
  EXPECT_FALSE(Changed(AllBackends(), fresh, BackendKind::kPrometheus));
  EXPECT_FALSE(Changed(AllBackends(), fresh, BackendKind::kDatadog));
  EXPECT_FALSE(Changed(AllBackends(), fresh, BackendKind::kConsole));

  fresh = AllBackends();
  fresh.prometheus->listen = "127.0.0.2:0";
  EXPECT_TRUE(Changed(AllBackends(), fresh, BackendKind::kPrometheus));
  EXPECT_FALSE(Changed(AllBackends(), fresh, BackendKind::kGraphite));
}

TEST(BackendFactoryTest, TurningABackendOnOrOffChangesIt) {
  Config fresh = AllBackends();
  fresh.datadog.reset();
  EXPECT_TRUE(Changed(AllBackends(), fresh, BackendKind::kDatadog));
  EXPECT_TRUE(Changed(fresh, AllBackends(), BackendKind::kDatadog));
  EXPECT_FALSE(Changed(AllBackends(), fresh, BackendKind::kConsole));
}

TEST(BackendFactoryTest, AggregationSettingsRestartNoBackend) {
  // Prometheus takes series_ttl in place (ApplyLiveSettings).
  Config fresh = AllBackends();
  fresh.aggregation.series_ttl = absl::Minutes(1);
  fresh.aggregation.percentiles = {50};
  for (BackendKind kind : kBackendKinds) {
    EXPECT_FALSE(Changed(AllBackends(), fresh, kind)) << BackendName(kind);
  }
}

TEST(BackendFactoryTest, CopyBackendSettingsCopiesOneSection) {
  Config running = AllBackends();
  Config fresh = AllBackends();
  fresh.graphite->global_prefix = "other";
  fresh.console.reset();
  CopyBackendSettings(BackendKind::kGraphite, fresh, &running);
  EXPECT_FALSE(Changed(running, fresh, BackendKind::kGraphite));
  EXPECT_TRUE(Changed(running, fresh, BackendKind::kConsole));
  CopyBackendSettings(BackendKind::kConsole, fresh, &running);
  EXPECT_FALSE(BackendEnabled(running, BackendKind::kConsole));
  EXPECT_TRUE(running == fresh);
}

TEST(BackendFactoryTest, StartsPrometheusAndNamesWhatItBound) {
  Config config = AllBackends();
  absl::StatusOr<StartedBackend> started = StartBackend(config, BackendKind::kPrometheus);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->kind, BackendKind::kPrometheus);
  EXPECT_EQ(started->runner->name(), "prometheus");
  EXPECT_TRUE(started->bound.starts_with("prometheus 127.0.0.1:")) << started->bound;
  EXPECT_NE(started->bound, "prometheus 127.0.0.1:0");
  config.aggregation.series_ttl = absl::Minutes(1);
  ApplyLiveSettings(config, &*started);
  EXPECT_TRUE(started->runner->Stop(backends::MonotonicNow()));
}

TEST(BackendFactoryTest, StartsRemoteWriteAndRestartsItOnlyWhenItsSectionChanges) {
  Config config = AllBackends();
  absl::StatusOr<StartedBackend> started = StartBackend(config, BackendKind::kRemoteWrite);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->runner->name(), "remote_write");
  config.aggregation.series_ttl = absl::Minutes(1);
  ApplyLiveSettings(config, &*started);  // in place: no restart
  EXPECT_FALSE(Changed(AllBackends(), config, BackendKind::kRemoteWrite));
  EXPECT_TRUE(started->runner->Stop(backends::MonotonicNow()));

  Config fresh = AllBackends();
  fresh.remote_write->headers = {"X-Scope-OrgID=b"};
  EXPECT_TRUE(Changed(AllBackends(), fresh, BackendKind::kRemoteWrite));
  EXPECT_FALSE(Changed(AllBackends(), fresh, BackendKind::kDatadog));
  fresh = AllBackends();
  fresh.remote_write.reset();
  EXPECT_TRUE(Changed(AllBackends(), fresh, BackendKind::kRemoteWrite));
  EXPECT_FALSE(BackendEnabled(fresh, BackendKind::kRemoteWrite));
}

}  // namespace
}  // namespace tallyd::server
