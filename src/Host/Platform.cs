// The plugin runs on Linux only: namespaces, netlink and CNI itself are Linux's.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
