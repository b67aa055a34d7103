/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "util/time.h"

int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: shift the year to start in March so leap days come last. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at s[*i] into *v. */
static bool digits(const char *s, size_t len, size_t *i, unsigned n, unsigned *v)
{
    unsigned x = 0;
    if (*i + n > len)
        return false;
    for (unsigned k = 0; k < n; k++) {
        char c = s[*i + k];
        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *v = x;
    return true;
}

static bool expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return false;
    (*i)++;
    return true;
}

bool rfc3339_parse(const char *s, size_t len, int64_t *sec, uint32_t *nsec)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned year = 0, mon = 0, day = 0, hh = 0, mm = 0, ss = 0, frac = 0, oh = 0, om = 0;
    size_t i = 0;

    if (!digits(s, len, &i, 4, &year) || !expect(s, len, &i, '-') || !digits(s, len, &i, 2, &mon) ||
        !expect(s, len, &i, '-') || !digits(s, len, &i, 2, &day))
        return false;
    if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
        return false;
    i++;
    if (!digits(s, len, &i, 2, &hh) || !expect(s, len, &i, ':') || !digits(s, len, &i, 2, &mm) ||
        !expect(s, len, &i, ':') || !digits(s, len, &i, 2, &ss))
        return false;
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] || hh > 23 || mm > 59 || ss > 60)
        return false;
    if (i < len && s[i] == '.') {
        unsigned scale = 100000000, ndig = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, ndig++) {
            frac += (unsigned)(s[i] - '0') * scale;
            scale /= 10;
        }
        if (ndig == 0)
            return false;
    }
    int sign = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        sign = s[i] == '+' ? 1 : -1;
        i++;
        if (!digits(s, len, &i, 2, &oh) || !expect(s, len, &i, ':') || !digits(s, len, &i, 2, &om) ||
            oh > 23 || om > 59)
            return false;
    } else {
        return false;
    }
    if (i != len)
        return false;

    *sec = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss -
           sign * (int64_t)(oh * 3600 + om * 60);
    *nsec = frac;
    return true;
}

/* The inverse of days_from_civil (Howard Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void rfc3339_format(int64_t sec, uint32_t nsec, char *out, size_t out_len)
{
    int64_t days = sec / 86400, rem = sec % 86400, year;
    unsigned mon, day;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    civil_from_days(days, &year, &mon, &day);
    if (year < 0 || year > 9999 || out_len < 36) {
        if (out_len)
            out[0] = '\0';
        return;
    }
    int n = snprintf(out, out_len, "%04d-%02u-%02uT%02d:%02d:%02d", (int)year, mon, day, (int)(rem / 3600),
                     (int)(rem / 60 % 60), (int)(rem % 60));
    if (nsec) {
        char frac[11];
        snprintf(frac, sizeof(frac), ".%09u", nsec % 1000000000u);
        size_t flen = 10;
        while (frac[flen - 1] == '0')
            flen--;
        frac[flen] = '\0';
        n += snprintf(out + n, out_len - (size_t)n, "%s", frac);
    }
    snprintf(out + n, out_len - (size_t)n, "Z");
}
