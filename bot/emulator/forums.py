"""Forum topics and pins, as Telegram's Bot API answers them (the emulator's part for incident topics).

A test makes a chat a forum (`make_forum`) and grants or revokes the bot's `can_manage_topics`
(`grant_topic_right`, `revoke_topic_right`). What Telegram does, and so the emulator:

- `createForumTopic` needs a forum (`the chat is not a forum`) and the right (`not enough rights to
  create a topic`). A topic's `message_thread_id` is the id of its creation message, so it takes the
  next message id of the chat. `icon_color` must be one of the six colours the Bot API lists.
- `editForumTopic`, `closeForumTopic` and `reopenForumTopic` need the right unless the bot created
  the topic (`not enough rights to edit the topic`, `not enough rights to close or open the topic`);
  an unknown topic is `TOPIC_ID_INVALID`, a change to nothing new `TOPIC_NOT_MODIFIED`.
- A send with `message_thread_id` needs a topic of that id (`message thread not found`, also for the
  General topic's id 1 and for a deleted topic). A closed topic takes messages only from its creator
  and from administrators with the right (TDLib's `can_send_message_to_forum_topic`); anyone else gets
  `TOPIC_CLOSED`. A reply without `message_thread_id` lands in the replied message's topic.
- A message in a topic carries `message_thread_id` and `is_topic_message`, and one that answers
  nothing else replies to the topic's creation message (`forum_topic_created`), as the Bot API
  server adds that reply itself.
- Deleting a topic (only people do it here, `delete_topic`) deletes its messages.

Not modelled: the service messages topic changes and pins post (their message ids are taken, no
message is kept), custom emoji icons, the General topic's own methods, the pin right. Unverified:
Telegram's answer to a colour off the list; here `TOPIC_COLOR_INVALID`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.emulator.errors import ApiError

if TYPE_CHECKING:
    from bot.emulator.server import Chat, ChatMessage

# The colours createForumTopic takes (Bot API docs); the first is the default when none is given.
TOPIC_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
TOPIC_NAME_LIMIT = 128
GENERAL_TOPIC = 1


@dataclass
class Topic:
    thread_id: int
    name: str
    icon_color: int
    by_bot: bool  # created by the bot (it may then close, reopen and rename it without the right)
    closed: bool = False
    created_name: str = ""  # the name in its creation message, which renames do not change
    date: int = field(default_factory=lambda: int(time.time()))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


class ForumMethods:
    """Mixed into `BotApiEmulator`: the forum test helpers and Bot API methods."""

    if TYPE_CHECKING:
        chats: dict[int, Chat]
        messages: dict[tuple[int, int], ChatMessage]
        bot_user: dict[str, Any]

        def add_chat(self, chat_id: int, type: str | None = None, title: str | None = None) -> Chat: ...
        def _chat(self, params: dict[str, Any]) -> Chat: ...
        def _next_message_id(self, chat_id: int) -> int: ...
        def _message_json(self, msg: ChatMessage, chat: Chat, sender: dict[str, Any]) -> dict[str, Any]: ...

    # -- test API ----------------------------------------------------------------------------
    def make_forum(self, chat_id: int, topic_right: bool = True, is_forum: bool = True) -> Chat:
        """Turn topics on in a supergroup (created if unknown), with or without the bot's right to manage them."""
        chat = self.chats.get(chat_id) or self.add_chat(chat_id, "supergroup")
        if chat.type != "supergroup":
            raise ValueError(f"only a supergroup can be a forum, chat {chat_id} is a {chat.type}")
        chat.is_forum, chat.topic_right = is_forum, topic_right
        return chat

    def grant_topic_right(self, chat_id: int) -> None:
        self.chats[chat_id].topic_right = True

    def revoke_topic_right(self, chat_id: int) -> None:
        self.chats[chat_id].topic_right = False

    def add_topic(self, chat_id: int, name: str, icon_color: int = TOPIC_COLORS[0], closed: bool = False) -> Topic:
        """A topic a person opened (the bot did not create it)."""
        chat = self.chats[chat_id]
        if not chat.is_forum:
            raise ValueError(f"chat {chat_id} is not a forum")
        topic = Topic(self._next_message_id(chat_id), name, icon_color, False, closed, name)
        chat.topics[topic.thread_id] = topic
        return topic

    def close_topic(self, chat_id: int, thread_id: int, closed: bool = True) -> None:
        """A person closes (or with `closed=False` reopens) a topic by hand."""
        self.chats[chat_id].topics[thread_id].closed = closed

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        """A person deletes a topic: it and all its messages are gone, and Telegram tells the bot nothing."""
        del self.chats[chat_id].topics[thread_id]
        for key in [k for k, m in self.messages.items() if k[0] == chat_id and m.thread_id == thread_id]:
            del self.messages[key]

    def topics(self, chat_id: int) -> list[Topic]:
        return sorted(self.chats[chat_id].topics.values(), key=lambda t: t.thread_id)

    def topic(self, chat_id: int, name_part: str) -> Topic:
        for topic in self.topics(chat_id):
            if name_part in topic.name:
                return topic
        raise KeyError(f"no topic with {name_part!r} in {[t.name for t in self.topics(chat_id)]}")

    def topic_messages(self, chat_id: int, thread_id: int | None) -> list[ChatMessage]:
        """The messages of one topic (`None`: the General topic), oldest first."""
        return sorted(
            (m for (c, _), m in self.messages.items() if c == chat_id and m.thread_id == thread_id),
            key=lambda m: m.message_id,
        )

    def pinned(self, chat_id: int) -> list[ChatMessage]:
        return sorted(
            (m for (c, _), m in self.messages.items() if c == chat_id and m.pinned), key=lambda m: m.message_id
        )

    # -- Bot API methods -----------------------------------------------------------------------
    async def _m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        body: dict[str, Any] = {
            **chat_json(chat),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        return body

    async def _m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        """The bot itself is an administrator of a group, with `can_manage_topics` as the test set it;
        anyone else is a member."""
        chat = self._chat(params)
        user_id = _int(params.get("user_id"))
        if user_id is None:
            raise ApiError(400, "Bad Request: user not found")
        if user_id != self.bot_user["id"] or chat.type == "private":
            return {"status": "member", "user": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}}
        rights = {
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": True,
            "can_manage_video_chats": False,
            "can_restrict_members": False,
            "can_promote_members": False,
            "can_change_info": False,
            "can_invite_users": True,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
            "can_send_welcome_messages": False,
            "can_pin_messages": True,
            "can_manage_topics": chat.topic_right,
        }
        return {"status": "administrator", "user": dict(self.bot_user), **rights}

    async def _m_createForumTopic(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._forum(params)
        if not chat.topic_right:
            raise ApiError(400, "Bad Request: not enough rights to create a topic")
        name = self._topic_name(params.get("name"))
        if name is None:
            raise ApiError(400, "Bad Request: title must be non-empty")
        color = _int(params.get("icon_color"))
        if color is None:
            color = TOPIC_COLORS[0]
        elif color not in TOPIC_COLORS:
            raise ApiError(400, "Bad Request: TOPIC_COLOR_INVALID")
        topic = Topic(self._next_message_id(chat.id), name, color, True, created_name=name)
        chat.topics[topic.thread_id] = topic
        return {"message_thread_id": topic.thread_id, "name": topic.name, "icon_color": topic.icon_color}

    async def _m_editForumTopic(self, params: dict[str, Any]) -> bool:
        chat, topic = self._known_topic(params, "not enough rights to edit the topic")
        name = self._topic_name(params.get("name"))
        if name is None:  # neither a name nor (not modelled) an icon: nothing to do
            return True
        if name == topic.name:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.name = name
        self._next_message_id(chat.id)  # the forum_topic_edited service message
        return True

    async def _m_closeForumTopic(self, params: dict[str, Any]) -> bool:
        return self._set_closed(params, True)

    async def _m_reopenForumTopic(self, params: dict[str, Any]) -> bool:
        return self._set_closed(params, False)

    async def _m_pinChatMessage(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        msg = self.messages.get((chat.id, _int(params.get("message_id")) or 0))
        if msg is None:
            raise ApiError(400, "Bad Request: message to pin not found")
        msg.pinned = True
        self._next_message_id(chat.id)  # the pinned_message service message
        return True

    async def _m_unpinChatMessage(self, params: dict[str, Any]) -> bool:
        """Without `message_id`, the most recent pin. A message that is not pinned is not found, as Telegram says."""
        chat = self._chat(params)
        message_id = _int(params.get("message_id"))
        if message_id is None:
            pins = self.pinned(chat.id)
            msg = pins[-1] if pins else None
        else:
            msg = self.messages.get((chat.id, message_id))
        if msg is None or not msg.pinned:
            raise ApiError(400, "Bad Request: message to unpin not found")
        msg.pinned = False
        return True

    # -- helpers for the send methods ----------------------------------------------------------
    def _thread(self, chat: Chat, params: dict[str, Any], reply_to: int | None) -> int | None:
        """The topic a send goes to, refused as Telegram refuses it."""
        thread_id = _int(params.get("message_thread_id"))
        if not thread_id:
            replied = self.messages.get((chat.id, reply_to)) if reply_to is not None else None
            return replied.thread_id if replied is not None else None
        topic = chat.topics.get(thread_id) if chat.is_forum else None
        if topic is None:
            raise ApiError(400, "Bad Request: message thread not found")
        if topic.closed and not (topic.by_bot or chat.topic_right):
            raise ApiError(400, "Bad Request: TOPIC_CLOSED")
        return thread_id

    def _topic_json(self, msg: ChatMessage, chat: Chat) -> dict[str, Any]:
        """What a message in a topic carries, including the implicit reply to the topic's creation message."""
        if msg.thread_id is None:
            return {}
        fields: dict[str, Any] = {"message_thread_id": msg.thread_id, "is_topic_message": True}
        topic = chat.topics.get(msg.thread_id)
        if msg.reply_to is None and topic is not None:
            creator = self.bot_user if topic.by_bot else {"id": 1000, "is_bot": False, "first_name": "Admin"}
            fields["reply_to_message"] = {
                "message_id": topic.thread_id,
                "date": topic.date,
                "chat": chat_json(chat),
                "from": creator,
                "message_thread_id": topic.thread_id,
                "is_topic_message": True,
                "forum_topic_created": {"name": topic.created_name, "icon_color": topic.icon_color},
            }
        return fields

    def _forum(self, params: dict[str, Any]) -> Chat:
        chat = self._chat(params)
        if not chat.is_forum:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        return chat

    def _known_topic(self, params: dict[str, Any], refusal: str) -> tuple[Chat, Topic]:
        chat = self._forum(params)
        thread_id = _int(params.get("message_thread_id"))
        if thread_id is None or thread_id <= 0:
            raise ApiError(400, "Bad Request: invalid forum topic identifier specified")
        topic = chat.topics.get(thread_id)
        if topic is None:
            raise ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        if not (chat.topic_right or topic.by_bot):
            raise ApiError(400, f"Bad Request: {refusal}")
        return chat, topic

    def _set_closed(self, params: dict[str, Any], closed: bool) -> bool:
        chat, topic = self._known_topic(params, "not enough rights to close or open the topic")
        if topic.closed == closed:
            raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
        topic.closed = closed
        self._next_message_id(chat.id)  # the forum_topic_closed / forum_topic_reopened service message
        return True

    @staticmethod
    def _topic_name(value: Any) -> str | None:
        name = str(value or "").replace("\n", " ").strip()
        return name[:TOPIC_NAME_LIMIT] or None


def chat_json(chat: Chat) -> dict[str, Any]:
    body: dict[str, Any] = {"id": chat.id, "type": chat.type}
    if chat.title:
        body["title"] = chat.title
    else:
        body["first_name"] = "User"
    if chat.is_forum:
        body["is_forum"] = True
    return body
