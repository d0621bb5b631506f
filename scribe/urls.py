from django.urls import path

from scribe import views

urlpatterns = [
    path("api/scribe/start", views.api_start, name="scribe-api-start"),
    path("api/scribe/<int:document_id>", views.api_document, name="scribe-api-document"),
    path("api/scribe/<int:document_id>/toggle", views.api_toggle, name="scribe-api-toggle"),
    path("api/scribe/<int:document_id>/edit", views.api_edit, name="scribe-api-edit"),
    path("api/scribe/<int:document_id>/restore", views.api_restore, name="scribe-api-restore"),
    path("api/scribe/<int:document_id>/redact", views.api_redact, name="scribe-api-redact"),
    path("api/scribe/<int:document_id>/revisions", views.api_revisions, name="scribe-api-revisions"),
    path("api/scribe/<int:document_id>/revisions/<int:version>", views.api_revision, name="scribe-api-revision"),
    path("scribe/start/", views.start_page, name="scribe-start"),
    path("scribe/<str:key>/", views.document_page, name="scribe-document"),
    path("scribe/<str:key>/toggle/", views.toggle_page, name="scribe-toggle"),
    path("scribe/<str:key>/edit/", views.edit_page, name="scribe-edit"),
    path("scribe/<str:key>/v<int:version>/", views.revision_page, name="scribe-revision"),
    path("scribe/<str:key>/v<int:version>/restore/", views.restore_page, name="scribe-restore"),
    path("scribe/<str:key>/v<int:version>/redact/", views.redact_page, name="scribe-redact"),
]
