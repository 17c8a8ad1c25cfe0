package sandbox

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// createBridge creates the node network's bridge with the node IP. The CNI
// bridge plugin attaches pods to it and reuses its address as their gateway
// (its own isGateway would switch on IP forwarding for the whole machine).
func createBridge(name, ip string, prefix int) error {
	if _, err := netlink.LinkByName(name); err == nil {
		return fmt.Errorf("network interface %s exists already: another sandbox's real node runs on this machine (one per machine: the kubelet's device-plugin folder is fixed); stop it with `sandbox down --dir DIR`, or remove a leftover with `ip link del %s`", name, name)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s (needs root and CAP_NET_ADMIN): %w", name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(ip), Mask: net.CIDRMask(prefix, 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil {
		_ = netlink.LinkDel(br)
		return fmt.Errorf("give bridge %s the address %s/%d: %w", name, ip, prefix, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		_ = netlink.LinkDel(br)
		return fmt.Errorf("bring bridge %s up: %w", name, err)
	}
	return nil
}

// deleteBridge removes the bridge (pods' veths go with their sandboxes).
func deleteBridge(name string) error {
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find bridge %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}
