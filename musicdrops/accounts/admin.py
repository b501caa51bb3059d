from django.contrib import admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from musicdrops.accounts.models import Suppression, User


class UserCreationForm(auth_forms.AdminUserCreationForm):
    class Meta(auth_forms.AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)
        field_classes: dict[str, type] = {}


class UserChangeForm(auth_forms.UserChangeForm):
    class Meta(auth_forms.UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes: dict[str, type] = {}


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    add_form = UserCreationForm
    form = UserChangeForm
    ordering = ("email",)
    list_display = ("email", "email_verified_at", "receives_drops", "is_staff", "date_joined")
    list_filter = ("is_staff", "is_active", "receives_drops")
    search_fields = ("email",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Email", {"fields": ("email_verified_at", "receives_drops")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """Addresses the send skips: from the provider's webhooks. Deleting one emails the address again."""

    list_display = ("email", "reason", "provider", "created_at", "detail")
    list_filter = ("reason", "provider")
    search_fields = ("email",)
    readonly_fields = ("created_at",)
