// libcurl for `cnnc download`, loaded with dlopen on first use instead of being linked.
//
// Why: linking libcurl (directly, or through Foundation's URLSession in FoundationNetworking)
// makes every cnnc process load and relocate libcurl and its ~25 dependencies (TLS, Kerberos,
// LDAP, …) at start-up, about half of `cnnc check`'s cold start, and it keeps the Swift
// runtime and Foundation from being linked statically (their static FoundationNetworking needs
// the libcurl development package). Only `download` (and `train` without data) needs HTTP.
//
// No curl headers are needed at build time: the few entry points and option numbers below are
// libcurl's stable ABI (curl/curl.h, CURLOPT_* = type base + number; unchanged since 7.x).
#ifndef CNNC_CCURL_SHIM_H
#define CNNC_CCURL_SHIM_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

typedef size_t (*cnnc_curl_write_fn)(char *data, size_t size, size_t count, void *context);
typedef int (*cnnc_curl_progress_fn)(void *context, int64_t download_total, int64_t download_now,
                                     int64_t upload_total, int64_t upload_now);

/// The libcurl functions cnnc calls.
struct cnnc_curl {
    void *(*easy_init)(void);
    int (*easy_setopt)(void *handle, int option, ...);
    int (*easy_perform)(void *handle);
    int (*easy_getinfo)(void *handle, int info, ...);
    void (*easy_cleanup)(void *handle);
    const char *(*easy_strerror)(int code);
};

/// Opens libcurl and fills `api`; NULL on success, else the loader's reason.
static inline const char *cnnc_curl_load(struct cnnc_curl *api) {
    static const char *const names[] = {"libcurl.so.4", "libcurl.so", "libcurl.4.dylib", "libcurl.dylib"};
    void *library = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !library; i++) {
        library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    }
    if (!library) {
        const char *reason = dlerror();
        return reason ? reason : "libcurl.so.4 not found";
    }
    api->easy_init = (void *(*)(void))dlsym(library, "curl_easy_init");
    api->easy_setopt = (int (*)(void *, int, ...))dlsym(library, "curl_easy_setopt");
    api->easy_perform = (int (*)(void *))dlsym(library, "curl_easy_perform");
    api->easy_getinfo = (int (*)(void *, int, ...))dlsym(library, "curl_easy_getinfo");
    api->easy_cleanup = (void (*)(void *))dlsym(library, "curl_easy_cleanup");
    api->easy_strerror = (const char *(*)(int))dlsym(library, "curl_easy_strerror");
    if (!api->easy_init || !api->easy_setopt || !api->easy_perform || !api->easy_getinfo
        || !api->easy_cleanup || !api->easy_strerror) {
        return "libcurl lacks curl_easy_* functions";
    }
    return NULL;
}

/// One blocking GET of `url`, following redirects. Body bytes go to `write` and progress to
/// `progress` (either may return a value that aborts: 0 written bytes, non-zero progress).
/// Gives up after `connect_timeout` seconds without a connection, `idle_timeout` seconds below
/// one byte per second, or `total_timeout` seconds in all. Returns libcurl's result code (0: the
/// transfer finished, whatever the HTTP status), with the status in `*status`, the Content-Length
/// (or -1) in `*length` and libcurl's own words in `error` (at least 256 bytes).
static inline int cnnc_curl_get(const struct cnnc_curl *api, const char *url, long connect_timeout,
                                long idle_timeout, long total_timeout, cnnc_curl_write_fn write,
                                cnnc_curl_progress_fn progress, void *context, long *status,
                                int64_t *length, char *error) {
    enum {
        CURLOPT_WRITEDATA = 10001, CURLOPT_URL = 10002, CURLOPT_ERRORBUFFER = 10010,
        CURLOPT_XFERINFODATA = 10057, CURLOPT_WRITEFUNCTION = 20011, CURLOPT_XFERINFOFUNCTION = 20219,
        CURLOPT_TIMEOUT = 13, CURLOPT_LOW_SPEED_LIMIT = 19, CURLOPT_LOW_SPEED_TIME = 20,
        CURLOPT_NOPROGRESS = 43, CURLOPT_FOLLOWLOCATION = 52, CURLOPT_CONNECTTIMEOUT = 78,
        CURLOPT_NOSIGNAL = 99,
        CURLINFO_RESPONSE_CODE = 0x200002, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T = 0x60000F,
        CURLE_FAILED_INIT = 2,
    };
    error[0] = 0;
    *status = 0;
    *length = -1;
    void *handle = api->easy_init();
    if (!handle) return CURLE_FAILED_INIT;
    api->easy_setopt(handle, CURLOPT_URL, url);
    api->easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
    api->easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
    api->easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    api->easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, connect_timeout);
    api->easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
    api->easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, idle_timeout);
    api->easy_setopt(handle, CURLOPT_TIMEOUT, total_timeout);
    api->easy_setopt(handle, CURLOPT_WRITEFUNCTION, write);
    api->easy_setopt(handle, CURLOPT_WRITEDATA, context);
    api->easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    api->easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, progress);
    api->easy_setopt(handle, CURLOPT_XFERINFODATA, context);
    int code = api->easy_perform(handle);
    api->easy_getinfo(handle, CURLINFO_RESPONSE_CODE, status);
    api->easy_getinfo(handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, length);
    api->easy_cleanup(handle);
    return code;
}

#endif
