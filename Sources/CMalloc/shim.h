#ifndef WIC_CMALLOC_SHIM_H
#define WIC_CMALLOC_SHIM_H
// Only mallopt and its M_* parameters are used.
#include <malloc.h>
#endif
