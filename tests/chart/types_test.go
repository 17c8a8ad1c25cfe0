package chart_test

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Short names for the typed objects the tests look at.
type (
	appsDeployment = appsv1.Deployment
	appsDaemonSet  = appsv1.DaemonSet
	hpaV2          = autoscalingv2.HorizontalPodAutoscaler
)

func corev1ResourceName(s string) corev1.ResourceName { return corev1.ResourceName(s) }

func metav1LabelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(s)
}
