/* SPDX-License-Identifier: Apache-2.0 */
/* Image references parsed as docker parses them (distribution/reference's rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <soci/soci.h>

#include "remote/hosts_toml.h"
#include "remote/registries_conf.h"
#include "remote/reference.h"

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void parses(const char *text, const char *host, const char *repo, const char *tag, const char *digest)
{
    struct image_ref r;
    int err = ref_parse(text, &r);
    if (err < 0)
        fail_msg("%s: %s", text, soci_last_error());
    assert_string_equal(r.host, host);
    assert_string_equal(r.repo, repo);
    assert_string_equal(r.tag, tag);
    assert_string_equal(r.digest, digest);
}

static void refused(const char *text)
{
    struct image_ref r;
    assert_int_equal(ref_parse(text, &r), SOCI_EINVAL);
    assert_true(strlen(soci_last_error()) > 0);
}

static void test_docker_rules(void **state)
{
    (void)state;
    parses("alpine", "docker.io", "library/alpine", "latest", "");
    parses("alpine:3.19", "docker.io", "library/alpine", "3.19", "");
    parses("docker.io/library/alpine:3.19", "docker.io", "library/alpine", "3.19", "");
    parses("index.docker.io/library/alpine", "docker.io", "library/alpine", "latest", "");
    parses("user/app", "docker.io", "user/app", "latest", "");
    parses("ghcr.io/org/team/app:v1.2-rc_3", "ghcr.io", "org/team/app", "v1.2-rc_3", "");
    parses("localhost/app", "localhost", "app", "latest", "");
    parses("localhost:5000/a/b@" D, "localhost:5000", "a/b", "", D);
    parses("127.0.0.1:5000/a/b:t@" D, "127.0.0.1:5000", "a/b", "t", D);
    parses("host.example:443/my_app__x/sub.dir-a", "host.example:443", "my_app__x/sub.dir-a", "latest", "");
    parses("[::1]:5000/app", "[::1]:5000", "app", "latest", "");

    refused("");
    refused("Alpine");
    refused("alpine:");
    refused("alpine:-bad");
    refused("alpine@sha256:abc");
    refused("alpine@md5:0123456789abcdef0123456789abcdef");
    refused("host:5000/");
    refused("a//b");
    refused("a/b/");
    refused("-a");
    refused("a___b");
    refused("a..b");
}

static void test_hosts(void **state)
{
    (void)state;
    struct image_ref r;
    assert_int_equal(ref_parse("alpine", &r), 0);
    assert_string_equal(ref_api_host(&r), "registry-1.docker.io");
    assert_int_equal(ref_parse("localhost:5000/x", &r), 0);
    assert_string_equal(ref_api_host(&r), "localhost:5000");
    assert_true(ref_host_is_local("localhost:5000"));
    assert_true(ref_host_is_local("127.0.0.1:5000"));
    assert_true(ref_host_is_local("127.1.2.3"));
    assert_true(ref_host_is_local("[::1]:5000"));
    assert_false(ref_host_is_local("localhost.example.com"));
    assert_false(ref_host_is_local("ghcr.io"));
    assert_false(ref_host_is_local("128.0.0.1"));
}

static void test_hosts_toml(void **state)
{
    (void)state;
    struct endpoints e;
    const char *toml = "# mirrors first\n"
                       "server = \"https://origin.example:8443\"\n"
                       "[host.\"http://mirror-a:5000\"]\n"
                       "  capabilities = [\"pull\"]\n"
                       "  skip_verify = true\n"
                       "[host.\"https://mirror-b/registry/v2/\"]\n"
                       "  capabilities = [\"pull\", \"resolve\"]\n"
                       "  ca = \"/etc/ca.pem\"\n"
                       "  override_path = true\n"
                       "  dial_timeout = \"5s\"\n";
    assert_int_equal(hosts_parse(toml, "docker.io", "https", &e), 0);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.e[0].scheme, "http");
    assert_string_equal(e.e[0].host, "mirror-a:5000");
    assert_string_equal(e.e[0].root, "/v2");
    assert_true(e.e[0].pull && !e.e[0].resolve && e.e[0].skip_verify && !e.e[0].origin);
    assert_string_equal(e.e[1].host, "mirror-b");
    assert_string_equal(e.e[1].root, "/registry/v2");
    assert_string_equal(e.e[1].ca, "/etc/ca.pem");
    assert_true(e.e[1].resolve);
    assert_string_equal(e.e[2].host, "origin.example:8443");
    assert_true(e.e[2].origin);

    assert_int_equal(hosts_parse("", "localhost:5000", "http", &e), 0);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.e[0].scheme, "http");
    assert_string_equal(e.e[0].host, "localhost:5000");

    assert_int_equal(hosts_parse("[mirror]\n", "h", "https", &e), SOCI_EINVAL);
    assert_int_equal(hosts_parse("[host.\"ftp://x\"]\n", "h", "https", &e), SOCI_EINVAL);
    assert_int_equal(hosts_parse("server = nope\n", "h", "https", &e), SOCI_EINVAL);
    assert_int_equal(hosts_parse("just words\n", "h", "https", &e), SOCI_EINVAL);
}

/* A registries.conf as podman's are written: comments, multi-line arrays, aliases,
 * namespaces, mirrors, the older form's lists. */
static void test_registries_conf(void **state)
{
    (void)state;
    static struct regconf c;
    struct endpoints e;
    const char *conf = "unqualified-search-registries = [\n"
                       "  \"docker.io\",   # the hub\n"
                       "  \"quay.io\",\n"
                       "]\n"
                       "[aliases]\n"
                       "  \"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
                       "[[registry]]\n"
                       "location = \"registry.example:5000\"\n"
                       "insecure = true\n"
                       "[[registry.mirror]]\n"
                       "location = \"mirror-a.local\"\n"
                       "[[registry.mirror]]\n"
                       "location = \"mirror-b.local:5000\"\n"
                       "insecure = true\n"
                       "[[registry]]\n"
                       "prefix = \"example.com/ns\"\n"
                       "location = \"example.com/ns\"\n"
                       "[[registry]]\n"
                       "location = \"evil.example\"\n"
                       "blocked = true\n"
                       "[registries.insecure]\n"
                       "registries = [\"old.local:5000\"]\n";
    assert_int_equal(regconf_parse(conf, &c), 0);
    assert_int_equal(c.n, 3); /* the namespace entry is left out */
    assert_int_equal(regconf_endpoints(&c, "registry.example:5000", "https", &e), 1);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.e[0].host, "mirror-a.local");
    assert_true(!e.e[0].insecure && !e.e[0].origin && e.e[0].pull);
    assert_string_equal(e.e[1].host, "mirror-b.local:5000");
    assert_true(e.e[1].insecure && e.e[1].skip_verify);
    assert_string_equal(e.e[2].host, "registry.example:5000");
    assert_true(e.e[2].origin && e.e[2].insecure);
    assert_string_equal(e.e[2].root, "/v2");
    assert_int_equal(regconf_endpoints(&c, "evil.example", "https", &e), SOCI_EAUTH);
    assert_int_equal(regconf_endpoints(&c, "old.local:5000", "https", &e), 1);
    assert_true(e.n == 1 && e.e[0].insecure);
    assert_int_equal(regconf_endpoints(&c, "docker.io", "https", &e), 0);
    assert_int_equal(regconf_endpoints(NULL, "docker.io", "https", &e), 0);

    assert_int_equal(regconf_parse("[[registry.mirror]]\nlocation = \"m\"\n", &c), SOCI_EINVAL);
    assert_int_equal(regconf_parse("[[registry]]\ninsecure = true\n", &c), SOCI_EINVAL); /* no location */
    assert_int_equal(regconf_parse("a = [\n\"x\",\n", &c), SOCI_EINVAL);             /* unterminated */
    assert_int_equal(regconf_parse("just words\n", &c), SOCI_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_rules),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_hosts_toml),
        cmocka_unit_test(test_registries_conf),
    };
    return cmocka_run_group_tests_name("reference", tests, NULL, NULL);
}
