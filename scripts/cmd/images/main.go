// Command images builds the project's container images without a container
// engine, reproducibly (see internal/images):
//
//	images build  [--image NAME]... [--out DIR] [--platform linux/amd64] [flags]
//	images rootfs --image NAME --out DIR [flags]
//
// build writes one OCI image-layout archive per image, DIR/<name>.tar, and
// DIR/digests.txt, and prints each image's reference and manifest digest.
// rootfs writes one image's file system into a folder (exporter/Dockerfile
// uses it, so that both build paths share one definition).
//
// SOURCE_DATE_EPOCH, when set, dates the layers' files and the images
// (default: the Unix epoch). Exit codes: 0 done, 1 a build failed, 2 bad input.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/images"
)

const usage = `usage: images build|rootfs [flags]

  build   build the images (all by default) into OCI image-layout archives
  rootfs  write one image's file system into a folder

Run 'images <command> -h' for its flags.`

// errUsage marks bad input (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp):
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "images:", err)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

// imageList is a repeatable, comma-separated --image flag.
type imageList []string

func (l *imageList) String() string { return strings.Join(*l, ",") }
func (l *imageList) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if _, ok := images.Lookup(n); !ok {
			return fmt.Errorf("unknown image %q", n)
		}
		*l = append(*l, n)
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: missing command", errUsage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet("images "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names imageList
	o := images.Options{Log: stderr}
	fs.Var(&names, "image", "image to build (repeatable or comma-separated; build: default all)")
	fs.StringVar(&o.Root, "root", "", "repository root (default: found above the working folder)")
	fs.StringVar(&o.Platform, "platform", images.DefaultPlatform, "target platform os/arch")
	fs.StringVar(&o.CacheDir, "cache", os.Getenv("GPU_AUTOSCALING_CACHE"), "cache folder for Debian packages (default ~/.cache/gpu-autoscaling)")
	fs.StringVar(&o.Version, "version", "", "version stamped into the Go binaries (default: each image's tag)")
	out := fs.String("out", "", "build: archive folder (default <root>/dist/images); rootfs: the folder to fill")
	switch cmd {
	case "build":
		fs.StringVar(&o.BinDir, "bin", os.Getenv("GPU_AUTOSCALING_BIN"), "folder with prebuilt binaries (default <root>/bin)")
		fs.StringVar(&o.Revision, "revision", "", "revision label (default: git rev-parse HEAD)")
	case "rootfs":
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := prepare(&o, names); err != nil {
		return err
	}
	if cmd == "rootfs" {
		if len(names) != 1 || *out == "" {
			return fmt.Errorf("%w: rootfs needs one --image and --out", errUsage)
		}
		return images.Rootfs(ctx, o, names[0], *out)
	}
	o.OutDir = *out
	results, err := images.Build(ctx, o)
	report(stdout, results)
	return err
}

// prepare fills the options the flags leave open: images, root, epoch.
func prepare(o *images.Options, names []string) error {
	o.Images = names
	if o.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if o.Root, err = images.FindRoot(wd); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: SOURCE_DATE_EPOCH=%q is not a number of seconds", errUsage, s)
		}
		o.Epoch = time.Unix(sec, 0)
	}
	return nil
}

func report(w io.Writer, results []images.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tREFERENCE\tDIGEST\tSIZE\tTIME")
	var skipped []string
	for _, r := range results {
		if r.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("skipped %s: %s", r.Name, r.Skipped))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f MB\t%.1fs\n", r.Name, r.Ref, r.Digest, float64(r.Size)/1e6, r.Duration.Seconds())
	}
	tw.Flush()
	for _, s := range skipped {
		fmt.Fprintln(w, s)
	}
}
