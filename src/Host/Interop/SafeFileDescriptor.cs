// A file descriptor this process owns and closes: netlink sockets, lock files, the pipes
// to a plugin, pidfds. Descriptors it only borrows (0, 1 and 2; a netns file opened
// with File.OpenHandle) stay what they are.
using System;
using System.Runtime.InteropServices;

namespace Dcos.L4lb.Host;

sealed class SafeFileDescriptor : SafeHandle
{
    // for the marshaller, which fills in what a call returns
    public SafeFileDescriptor() : base(-1, ownsHandle: true) { }

    public SafeFileDescriptor(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    /// A descriptor that was opened and is not closed yet.
    public bool IsOpen => !IsInvalid && !IsClosed;

    // The raw number, for the few places that put it into a structure (a pollfd): the
    // caller holds this handle open for as long as the number is used.
    public int Number => (int)handle;

    protected override bool ReleaseHandle() => Interop.Libc.close((int)handle) == 0;
}
