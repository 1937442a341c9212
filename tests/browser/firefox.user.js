// The profile of the Firefox ESR the browser tests drive (shared/research/firefox.md): fake
// devices, loopback ICE candidates, and nothing that reaches for the network.
// ---- WebRTC under test -------------------------------------------------
user_pref("media.navigator.streams.fake", true);          // fake camera/mic (no devices needed)
user_pref("media.navigator.permission.disabled", true);   // no getUserMedia prompt
user_pref("media.peerconnection.ice.loopback", true);     // gather 127.0.0.1 host candidates
user_pref("media.peerconnection.ice.obfuscate_host_addresses", false); // real IPs, not mDNS *.local
user_pref("media.autoplay.default", 0);                   // allow <video> autoplay
user_pref("media.autoplay.blocking_policy", 0);
// ---- no network at start -----------------------------------------------
user_pref("app.update.disabledForTesting", true);
user_pref("app.update.auto", false);
user_pref("app.update.checkInstallTime", false);
user_pref("app.normandy.enabled", false);
user_pref("app.normandy.api_url", "");
user_pref("app.shield.optoutstudies.enabled", false);
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("security.remote_settings.intermediates.enabled", false);
user_pref("security.remote_settings.crlite_filters.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.dataSubmissionPolicyBypassNotification", true);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("datareporting.usage.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.unified", false);
user_pref("toolkit.telemetry.archive.enabled", false);
user_pref("toolkit.telemetry.server", "");
user_pref("telemetry.fog.test.localhost_port", -1);
user_pref("browser.ping-centre.telemetry", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.safebrowsing.downloads.remote.enabled", false);
user_pref("browser.safebrowsing.blockedURIs.enabled", false);
user_pref("browser.safebrowsing.provider.mozilla.updateURL", "");
user_pref("browser.safebrowsing.provider.google4.updateURL", "");
user_pref("browser.safebrowsing.provider.google.updateURL", "");
user_pref("media.gmp-manager.url", "");
user_pref("media.gmp-manager.updateEnabled", false);
user_pref("media.gmp-gmpopenh264.autoupdate", false);
user_pref("media.gmp-widevinecdm.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("extensions.systemAddon.update.enabled", false);
user_pref("extensions.getAddons.cache.enabled", false);
user_pref("extensions.blocklist.enabled", false);
user_pref("browser.search.update", false);
user_pref("browser.region.network.url", "");
user_pref("browser.region.update.enabled", false);
user_pref("geo.provider.network.url", "");
user_pref("browser.topsites.contile.enabled", false);
user_pref("browser.newtabpage.enabled", false);
user_pref("browser.newtabpage.activity-stream.feeds.system.topstories", false);
user_pref("browser.newtabpage.activity-stream.feeds.snippets", false);
user_pref("browser.newtabpage.activity-stream.showSponsoredTopSites", false);
user_pref("browser.urlbar.suggest.searches", false);
user_pref("browser.translations.enable", false);
user_pref("browser.ml.enable", false);
user_pref("dom.push.connection.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.http.speculative-parallel-limit", 0);
user_pref("network.predictor.enabled", false);
user_pref("network.trr.mode", 5);                         // no DNS-over-HTTPS
user_pref("network.proxy.type", 0);                       // ignore system proxy env
user_pref("identity.fxaccounts.enabled", false);
// ---- quiet, deterministic startup --------------------------------------
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.page", 0);
user_pref("browser.startup.homepage", "about:blank");
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("startup.homepage_welcome_url", "about:blank");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.sessionstore.resume_from_crash", false);
user_pref("toolkit.startup.max_resumed_crashes", -1);
user_pref("termsofuse.bypassNotification", true);
user_pref("browser.dom.window.dump.enabled", true);
user_pref("devtools.console.stdout.content", true);       // page console.log -> stdout
