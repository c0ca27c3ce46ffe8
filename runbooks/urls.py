from django.urls import path

from . import views

app_name = "runbooks"

urlpatterns = [
    path("", views.library, name="library"),
    path("new/", views.edit, name="new"),
    path("preview/", views.preview, name="preview"),
    path("my-steps/", views.my_steps, name="my_steps"),
    path("incident/<incident:pk>/panel/", views.panel, name="panel"),
    path("incident/<incident:pk>/attach/", views.attach, name="attach"),
    path("incident/<incident:pk>/assign-evenly/", views.assign_evenly, name="assign_evenly"),
    path("incident/<incident:pk>/move-steps/", views.move_steps, name="move_steps"),
    path("steps/<int:step_run_pk>/", views.change_step, name="change_step"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/v<int:number>/", views.detail, name="version"),
    path("<slug:slug>/edit/", views.edit, name="edit"),
    path("<slug:slug>/diff/", views.diff, name="diff"),
]
