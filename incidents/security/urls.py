"""Security pages of one incident, included under /incidents/<pk>/security/ (namespace
incidents:security), and the mitigations-in-force page at /mitigations/ (`in_force_urlpatterns`,
namespace mitigations)."""

from django.urls import path

from incidents.security import views

app_name = "security"

urlpatterns = [
    path("", views.page, name="page"),
    path("clocks/", views.clocks_panel, name="clocks"),
    path("clocks/awareness/", views.set_awareness, name="awareness"),
    path("clocks/start/", views.start_clock, name="start_clock"),
    path("clocks/<int:clock_pk>/submit/", views.submit, name="submit"),
    path("clocks/<int:clock_pk>/not-required/", views.not_required, name="not_required"),
    path("clocks/<int:clock_pk>/correct-start/", views.correct_start, name="correct_start"),
    path("mitigations/", views.add_mitigation, name="add_mitigation"),
    path("mitigations/<int:mitigation_pk>/", views.edit_mitigation, name="edit_mitigation"),
    path("mitigations/<int:mitigation_pk>/lift/", views.lift_mitigation, name="lift_mitigation"),
    path("exposure/", views.assess, name="exposure"),
    path("audit/", views.audit, name="audit"),
]

in_force_urlpatterns = [
    path("", views.mitigations_in_force, name="in_force"),
]
