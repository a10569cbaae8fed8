/* SPDX-License-Identifier: MIT */
/* error.c: the text of every AH_E* code, for messages and logs. */
#include "ahead.h"

const char *ah_strerror(int code)
{
    switch (code) {
    case AH_OK:
        return "success";
    case AH_ENOMEM:
        return "out of memory";
    case AH_EIO:
        return "input/output error";
    case AH_ECORRUPT:
        return "snapshot is corrupt";
    case AH_EVERSION:
        return "unsupported snapshot format version";
    case AH_EINVAL:
        return "invalid argument";
    case AH_ETOOLONG:
        return "text too long";
    case AH_EUTF8:
        return "invalid UTF-8";
    case AH_ENOSPC:
        return "buffer too small";
    default:
        return "unknown error";
    }
}
