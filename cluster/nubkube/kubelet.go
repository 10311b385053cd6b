package main

// The part of a kubelet that kwok does not play: before a kubelet starts a container, it makes
// the container's environment from the Secrets and ConfigMaps the container names. A reference to
// one that does not exist, or to a key it does not have (unless marked optional), stops the
// container with CreateContainerConfigError and a Warning event; the kubelet tries again at each
// sync, and starts the container once the Secret or key is there.
//
// This stand-in checks each scheduled pod's references and marks the pod with the annotation
// below: kwok's stages (kwok-stages.yaml) start only pods marked "ok". A pod marked "missing" gets
// the kubelet's status and event once kwok has given it an address, and is checked again every
// second until it is fixed.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
)

// annEnv marks a pod whose environment references were checked: "ok", or "missing".
const annEnv = "nubkube.nub.dev/env"

const reasonConfigError = "CreateContainerConfigError"

func runKubeletEnv(args []string) int {
	client, ctx, cancel, err := connect("kubelet-env", args, func(*flag.FlagSet) {})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-env:", err)
		return 2
	}
	defer cancel()
	factory := informers.NewSharedInformerFactory(client, 0)
	pods := factory.Core().V1().Pods()
	queue := workqueue.NewTyped[types.NamespacedName]()
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" && pod.DeletionTimestamp == nil && pod.Annotations[annEnv] != "ok" {
			queue.Add(types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name})
		}
	}
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	// A kubelet syncs a pod it could not start again and again: here every second.
	go func() {
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				list, _ := pods.Lister().List(labels.Everything())
				for _, pod := range list {
					if pod.Annotations[annEnv] == "missing" {
						enqueue(pod)
					}
				}
			}
		}
	}()
	go func() {
		for {
			key, shutdown := queue.Get()
			if shutdown {
				return
			}
			pod, err := pods.Lister().Pods(key.Namespace).Get(key.Name)
			if err == nil {
				if err := syncEnv(ctx, client, pod.DeepCopy()); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					klog.Errorf("pod %s: %v", key, err)
				}
			}
			queue.Done(key)
		}
	}()
	<-ctx.Done()
	return 0
}

// syncEnv checks the pod's references and marks it; a pod with a missing one gets the kubelet's
// container status and event, once it has an address (kwok's first stage wrote its status).
func syncEnv(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) error {
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil || pod.Annotations[annEnv] == "ok" {
		return nil
	}
	problems := map[string]string{}
	for _, container := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if problem := envProblem(ctx, client, pod.Namespace, container); problem != "" {
			problems[container.Name] = problem
		}
	}
	mark := "ok"
	if len(problems) > 0 {
		mark = "missing"
	}
	if pod.Annotations[annEnv] != mark {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, annEnv, mark)
		if _, err := client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	if mark == "ok" || pod.Status.PodIP == "" {
		return nil
	}
	changed := false
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range statuses {
			problem, failing := problems[statuses[i].Name]
			waiting := statuses[i].State.Waiting
			if !failing || (waiting != nil && waiting.Reason == reasonConfigError && waiting.Message == problem) {
				continue
			}
			statuses[i].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonConfigError, Message: problem}}
			statuses[i].Ready = false
			changed = true
			if err := failedEvent(ctx, client, pod, statuses[i].Name, problem); err != nil {
				return err
			}
		}
	}
	if !changed {
		return nil
	}
	_, err := client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

// envProblem is what a kubelet says of the container's environment, as kubelet_pods.go words it,
// or "" when every reference it must resolve is there.
func envProblem(ctx context.Context, client kubernetes.Interface, namespace string, container corev1.Container) string {
	optional := func(flag *bool) bool { return flag != nil && *flag }
	// The kubelet's Secret and ConfigMap managers say "secret", not the API's "secrets".
	problemOf := func(kind, name string, err error) string {
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("%s %q not found", kind, name)
		}
		return err.Error()
	}
	secret := func(name string) (*corev1.Secret, string) {
		found, err := client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, problemOf("secret", name, err)
		}
		return found, ""
	}
	configMap := func(name string) (*corev1.ConfigMap, string) {
		found, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, problemOf("configmap", name, err)
		}
		return found, ""
	}
	for _, from := range container.EnvFrom {
		if ref := from.SecretRef; ref != nil && !optional(ref.Optional) {
			if _, problem := secret(ref.Name); problem != "" {
				return problem
			}
		}
		if ref := from.ConfigMapRef; ref != nil && !optional(ref.Optional) {
			if _, problem := configMap(ref.Name); problem != "" {
				return problem
			}
		}
	}
	for _, env := range container.Env {
		if env.ValueFrom == nil {
			continue
		}
		if ref := env.ValueFrom.SecretKeyRef; ref != nil && !optional(ref.Optional) {
			found, problem := secret(ref.Name)
			if problem != "" {
				return problem
			}
			if _, ok := found.Data[ref.Key]; !ok {
				return fmt.Sprintf("couldn't find key %s in Secret %s/%s", ref.Key, namespace, ref.Name)
			}
		}
		if ref := env.ValueFrom.ConfigMapKeyRef; ref != nil && !optional(ref.Optional) {
			found, problem := configMap(ref.Name)
			if problem != "" {
				return problem
			}
			_, inData := found.Data[ref.Key]
			_, inBinary := found.BinaryData[ref.Key]
			if !inData && !inBinary {
				return fmt.Sprintf("couldn't find key %s in ConfigMap %s/%s", ref.Key, namespace, ref.Name)
			}
		}
	}
	return ""
}

// failedEvent records the kubelet's Warning for the container.
func failedEvent(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, container, problem string) error {
	now := metav1.Now()
	event := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "v1", Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			FieldPath: fmt.Sprintf("spec.containers{%s}", container),
		},
		Reason: "Failed", Message: "Error: " + problem, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "kubelet", Host: pod.Spec.NodeName},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "kubelet", ReportingInstance: pod.Spec.NodeName,
	}
	_, err := client.CoreV1().Events(pod.Namespace).Create(ctx, event, metav1.CreateOptions{})
	return err
}
