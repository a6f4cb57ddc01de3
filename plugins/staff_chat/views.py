"""The Staff Chat page: channels, history and a composer. Everything live goes over
Socket.IO (``events.py``); the page itself only needs the permission to chat."""

from __future__ import annotations

from typing import Any

from flask_appbuilder import BaseView, expose, has_access
from flask_login import current_user

from plugins.staff_chat.models import MAX_BODY

VIEW_MENU = "StaffChat"
#: The one permission of the plugin: the page and every Socket.IO event need it.
PERMISSION = ("can_chat", VIEW_MENU)


class StaffChatView(BaseView):
    route_base = "/chat"
    default_view = "index"
    class_permission_name = VIEW_MENU
    method_permission_name = {"index": "chat"}
    base_permissions = [PERMISSION[0]]

    @expose("/")
    @has_access
    def index(self) -> Any:
        return self.render_template(
            "staff_chat/chat.html", me_id=int(current_user.id), max_body=MAX_BODY
        )
