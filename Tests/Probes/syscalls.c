// Tries, inside the sandbox, each system call the seccomp filter must refuse, and
// prints one line per call: `name=RESULT`, RESULT being 0 (it worked), the errno's
// number, or `signal N` (the process was killed). Built and run by SandboxHardeningTests.
// Usage: probe PORT [NAME...]: PORT is one the test listens on at the host's loopback;
// each NAME is a system call to try once more with all-zero arguments (`refused:NAME=RESULT`).
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <seccomp.h>

static void report(const char *name, long result) {
    printf("%s=%d\n", name, result < 0 ? errno : 0);
}

// Runs `call` in a child, so that a call that kills or succeeds strangely harms nobody.
static void in_child(const char *name, long (*call)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        long result = call();
        _exit(result < 0 ? errno : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) printf("%s=signal %d\n", name, WTERMSIG(status));
    else printf("%s=%d\n", name, WEXITSTATUS(status));
}

// getpid through the i386 ABI (int 0x80, number 20) and the x32 ABI (bit 30 set).
static long i386_getpid(void) { long r; __asm__ volatile("int $0x80" : "=a"(r) : "0"(20L) : "memory"); return r < 0 ? (errno = -r, -1) : r; }
static long x32_getpid(void) { return syscall(0x40000000L | SYS_getpid); }

static long clone_flag(unsigned long flag) {
    long pid = syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    return pid < 0 ? -1 : 0;
}

static void *thread_body(void *argument) { return argument; }

int main(int argc, char **argv) {
    char buffer[16];
    struct iovec local = {buffer, sizeof buffer}, remote = {buffer, sizeof buffer};
    report("unshare", syscall(SYS_unshare, CLONE_NEWUSER));
    report("unshare_mount", syscall(SYS_unshare, CLONE_NEWNS));
    report("setns", syscall(SYS_setns, 0, 0));
    report("clone_newuser", clone_flag(CLONE_NEWUSER));
    report("clone_newns", clone_flag(CLONE_NEWNS));
    report("clone_newpid", clone_flag(CLONE_NEWPID));
    report("clone_newnet", clone_flag(CLONE_NEWNET));
    report("clone3", syscall(SYS_clone3, NULL, 0));
    report("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL));
    report("umount2", syscall(SYS_umount2, "/tmp", 0));
    report("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    report("chroot", syscall(SYS_chroot, "/tmp"));
    report("open_tree", syscall(SYS_open_tree, -100, "/tmp", 0));
    report("move_mount", syscall(SYS_move_mount, -1, "", -100, "/tmp", 0));
    report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    report("fspick", syscall(SYS_fspick, -100, "/tmp", 0));
    report("ptrace", syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
    report("process_vm_readv", syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0));
    report("process_vm_writev", syscall(SYS_process_vm_writev, getpid(), &local, 1, &remote, 1, 0));
    report("bpf", syscall(SYS_bpf, 0, NULL, 0));
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    report("add_key", syscall(SYS_add_key, "user", "wic", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    report("request_key", syscall(SYS_request_key, "user", "wic", NULL, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    report("userfaultfd", syscall(SYS_userfaultfd, 0));
    report("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, -100, NULL, 0));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("init_module", syscall(SYS_init_module, NULL, 0, ""));
    report("finit_module", syscall(SYS_finit_module, -1, "", 0));
    report("acct", syscall(SYS_acct, NULL));
    report("swapon", syscall(SYS_swapon, "/tmp/none", 0));
    report("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
    report("syslog", syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
    report("socket_netlink", syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0));
    report("socket_packet", syscall(SYS_socket, AF_PACKET, SOCK_RAW, 0));
    report("socket_mptcp", syscall(SYS_socket, AF_INET, SOCK_STREAM, 262 /* IPPROTO_MPTCP */));
    report("socket_udplite6", syscall(SYS_socket, AF_INET6, SOCK_DGRAM, 136 /* IPPROTO_UDPLITE */));
    report("socket_sctp", syscall(SYS_socket, AF_INET, SOCK_STREAM, 132 /* IPPROTO_SCTP */));
    report("socket_icmp", syscall(SYS_socket, AF_INET, SOCK_DGRAM, 1 /* IPPROTO_ICMP */));
    report("personality_no_randomize", syscall(SYS_personality, ADDR_NO_RANDOMIZE));
    in_child("i386_abi", i386_getpid);
    in_child("x32_abi", x32_getpid);
    // What a compiler needs still works.
    report("socket_unix", syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
    report("socket_tcp6", syscall(SYS_socket, AF_INET6, SOCK_STREAM, 6 /* IPPROTO_TCP */));
    report("socket_udp", syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0));
    report("setresuid_own", syscall(SYS_setresuid, -1, geteuid(), -1));
    report("setresgid_own", syscall(SYS_setresgid, -1, getegid(), -1));
    report("personality_query", syscall(SYS_personality, 0xffffffffUL));
    // argv[1]: a port the test listens on at the host's 127.0.0.1, which the sandbox's own
    // network namespace does not have.
    struct sockaddr_in loopback = {.sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 0), .sin_addr = {htonl(INADDR_LOOPBACK)}};
    report("connect_loopback", connect(socket(AF_INET, SOCK_STREAM, 0), (struct sockaddr *)&loopback, sizeof loopback));
    pthread_t thread;
    errno = pthread_create(&thread, NULL, thread_body, NULL);
    report("thread", errno ? -1 : pthread_join(thread, NULL));
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) _exit(0);
    report("fork", child < 0 ? -1 : waitpid(child, NULL, 0));
    for (int index = 2; index < argc; index++) {
        int number = seccomp_syscall_resolve_name(argv[index]);
        char name[128];
        snprintf(name, sizeof name, "refused:%s", argv[index]);
        if (number == __NR_SCMP_ERROR) printf("%s=unknown\n", name);
        else report(name, syscall(number, 0, 0, 0, 0, 0, 0));
    }
    return 0;
}
