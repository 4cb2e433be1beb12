#ifndef WIC_CFASTCGI_SHIM_H
#define WIC_CFASTCGI_SHIM_H
// Only the thread-safe FCGX_*_r functions and FCGX_PutStr are meant to be
// used (FCGX_FPrintF is variadic and not callable from Swift).
#include <fcgiapp.h>
#endif
