package main

// The controllers of a real control plane, linked into this binary and run as child processes of it.
//
// Why one binary: kube-controller-manager and kube-scheduler come from the same k8s.io/kubernetes
// release as the API server, and most of their packages are the API server's, so linking them together
// costs a fraction of three builds and one cache entry holds all of them. Why child processes and not
// goroutines: each component keeps process-wide state (its flag set, klog, the legacy metrics registry,
// its signal handler) that assumes it is alone, exactly as hyperkube ran them; `stockops-testenv
// kube-controller-manager ARGS` runs only that component's own command, and the server starts itself
// that way.
//
// What runs (with --controllers): the controller manager's default controllers (Job, CronJob, garbage
// collector, namespace, Deployment, ReplicaSet, EndpointSlice, ServiceAccount and token, root CA
// publisher, node lifecycle, TTL-after-finished, pod GC, ...) with per-controller service-account
// credentials, and the default scheduler. Both authenticate as the users the bootstrap RBAC policy binds
// (system:kube-controller-manager, system:kube-scheduler), so they have exactly a cluster's rights.
// No kubelet runs: tests register Node objects and run a node agent of their own.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/component-base/cli"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const (
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	componentStopWait     = 15 * time.Second
)

// componentCommands are the subcommands that run one component in the foreground, nothing else.
var componentCommands = map[string]func(args []string) int{
	"kube-controller-manager": func(args []string) int {
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"kube-scheduler": func(args []string) int {
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
}

// componentUsers are the token users the controllers authenticate as; the bootstrap RBAC policy binds
// the ClusterRoles of the same names to them.
var componentUsers = []string{controllerManagerUser, schedulerUser}

func controllerManagerArgs(kubeconfig string, p pkiFiles, extra []string) []string {
	args := []string{
		"--kubeconfig=" + kubeconfig,
		// No HTTPS endpoint: nothing scrapes it, and serving it would need delegated authn/authz.
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.saKey,
		"--root-ca-file=" + p.caCert,
		"--cluster-signing-cert-file=" + p.caCert,
		"--cluster-signing-key-file=" + p.caKey,
		"--controllers=*",
		// Pods of deleted or lost nodes are collected at once rather than after a cluster's patience.
		"--terminated-pod-gc-threshold=100",
		"--v=0",
	}
	return append(args, extra...)
}

func schedulerArgs(kubeconfig string, extra []string) []string {
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--v=0",
	}
	return append(args, extra...)
}

// child is one component process; exited is closed once it has exited, with its exit code in code.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	code   int
}

// startComponent runs this binary as `name args...`, logging to our stderr with a prefix-free stream
// (each component's klog lines already name their source file).
func startComponent(name string, args []string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find this executable to start %s: %w", name, err)
	}
	cmd := exec.Command(self, append([]string{name}, args...)...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	// Its own process group: a Ctrl-C in a terminal reaches us, and we stop the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		code := 0
		if err != nil {
			code = 1
			if exit, ok := err.(*exec.ExitError); ok {
				code = exit.ExitCode()
			}
		}
		c.code = code
		close(c.exited)
	}()
	logf("started %s (pid %d)", name, cmd.Process.Pid)
	return c, nil
}

// stop sends SIGTERM and waits, then SIGKILL; it is safe on a child that already exited.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		logf("%s stopped (exit code %d)", c.name, c.code)
	case <-time.After(componentStopWait):
		_ = c.cmd.Process.Kill()
		<-c.exited
		logf("%s killed after %s", c.name, componentStopWait)
	}
}

// startControllers writes the components' kubeconfigs into tmp and starts them; on error it stops the
// ones it started.
func startControllers(tmp, server string, p pkiFiles, tokens map[string]string, o options) ([]*child, error) {
	paths := map[string]string{}
	for _, user := range componentUsers {
		path := filepath.Join(tmp, user[len("system:"):]+".kubeconfig")
		if err := writeFileAtomic(path, []byte(kubeconfig(server, p.caPEM, user, tokens[user])), 0o600); err != nil {
			return nil, err
		}
		paths[user] = path
	}
	specs := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", controllerManagerArgs(paths[controllerManagerUser], p, o.controllerManagerArgs)},
		{"kube-scheduler", schedulerArgs(paths[schedulerUser], o.schedulerArgs)},
	}
	var started []*child
	for _, s := range specs {
		c, err := startComponent(s.name, s.args)
		if err != nil {
			stopAll(started)
			return nil, err
		}
		started = append(started, c)
	}
	return started, nil
}

// stopAll stops components in reverse start order (the scheduler before the controllers).
func stopAll(children []*child) {
	for i := len(children) - 1; i >= 0; i-- {
		children[i].stop()
	}
}
