#ifndef WIC_CSECCOMP_SHIM_H
#define WIC_CSECCOMP_SHIM_H
// libseccomp (Debian: libseccomp-dev), used only by the SeccompFilter module, which
// builds the sandbox's filter and exports it as a BPF program.
#include <seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

// SCMP_ACT_ERRNO is a function-like macro, which Swift cannot call.
static inline uint32_t wic_scmp_act_errno(uint16_t error) { return SCMP_ACT_ERRNO(error); }

// memfd_create is declared only under _GNU_SOURCE, which Swift's Glibc module is built without.
static inline int wic_memfd_create_cloexec(const char *name) { return (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */); }
#endif
