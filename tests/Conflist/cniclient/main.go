// cniclient runs one network configuration list through libcni, the client library
// container runtimes use, as a runtime would: ADD, CHECK or DEL of one container, or a
// validation of the list.
//
//	cniclient -conflist FILE -container-id ID -netns PATH -ifname eth0 \
//	    -cni-path DIR[:DIR...] -cache-dir DIR [-args K=V;K=V] add|check|del|validate
//
// ADD prints the list's result as JSON on stdout; validate runs libcni's
// ValidateNetworkList (every plugin is found and supports the list's cniVersion) and
// prints the capabilities the list declares. Every failure goes to stderr, and the
// exit status is 1. The cache directory has no default: libcni's own default is
// the machine's /var/lib/cni, which a test must never touch.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

func main() {
	conflist := flag.String("conflist", "", "the network configuration list (a .conflist file)")
	containerID := flag.String("container-id", "", "CNI_CONTAINERID")
	netns := flag.String("netns", "", "CNI_NETNS (may be empty for del)")
	ifName := flag.String("ifname", "eth0", "CNI_IFNAME")
	cniPath := flag.String("cni-path", "", "the plugin directories, separated by ':'")
	cacheDir := flag.String("cache-dir", "", "where libcni keeps its results cache")
	cniArgs := flag.String("args", "", "CNI_ARGS as K=V pairs separated by ';'")
	flag.Parse()

	rt := &libcni.RuntimeConf{ContainerID: *containerID, NetNS: *netns, IfName: *ifName}
	if err := parseArgs(*cniArgs, rt); err != nil {
		fmt.Fprintf(os.Stderr, "cniclient: -args: %v\n", err)
		os.Exit(1)
	}
	if err := run(flag.Args(), *conflist, *cniPath, *cacheDir, rt); err != nil {
		fmt.Fprintf(os.Stderr, "cniclient: %v\n", err)
		var cniErr *types.Error
		if errors.As(err, &cniErr) {
			fmt.Fprintf(os.Stderr, "cniclient: CNI error code %d\n", cniErr.Code)
		}
		os.Exit(1)
	}
}

// parseArgs fills rt.Args, which libcni writes into CNI_ARGS.
func parseArgs(text string, rt *libcni.RuntimeConf) error {
	if text == "" {
		return nil
	}
	for _, pair := range strings.Split(text, ";") {
		kv := strings.SplitN(pair, "=", 2)
		if len(kv) != 2 || kv[0] == "" {
			return fmt.Errorf("%q is not K=V", pair)
		}
		rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
	}
	return nil
}

func run(args []string, conflist, cniPath, cacheDir string, rt *libcni.RuntimeConf) error {
	if len(args) != 1 {
		return fmt.Errorf("expected one command (add, check, del or validate), got %q", args)
	}
	if conflist == "" || rt.ContainerID == "" || cniPath == "" || cacheDir == "" {
		return errors.New("-conflist, -container-id, -cni-path and -cache-dir are required")
	}
	if !filepath.IsAbs(cacheDir) {
		return fmt.Errorf("-cache-dir %q is not an absolute path", cacheDir)
	}

	list, err := libcni.ConfListFromFile(conflist)
	if err != nil {
		return fmt.Errorf("loading %s: %w", conflist, err)
	}

	cni := libcni.NewCNIConfigWithCacheDir(strings.Split(cniPath, ":"), cacheDir, nil)
	ctx := context.Background()

	switch args[0] {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return err
		}
		return result.PrintTo(os.Stdout)
	case "check":
		return cni.CheckNetworkList(ctx, list, rt)
	case "del":
		return cni.DelNetworkList(ctx, list, rt)
	case "validate":
		capabilities, err := cni.ValidateNetworkList(ctx, list)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(map[string][]string{"capabilities": capabilities})
	default:
		return fmt.Errorf("unknown command %q; expected add, check, del or validate", args[0])
	}
}
