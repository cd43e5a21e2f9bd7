"""The key footer: Textual's ``Footer``, without its rebuild on every focus change.

Textual's Footer removes and mounts all its keys whenever the bindings may have changed (every
focus move), about half the CPU of a pane-focus key or a filter's Enter on the dashboard. This one
compares the keys it would show with the ones it shows: the same keys, nothing happens; other keys
in the same plain layout (no binding groups), the key widgets take the new keys in place (keys
not needed are hidden, more are mounted only when there are not enough); anything else recomposes
as Textual's does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.binding import Binding
    from textual.screen import Screen

KeyShown = tuple[str, str, str, str, bool, str]
"""A shown key: key, key display, description, action, enabled, tooltip."""


class Footer(TextualFooter):
    _shown: tuple[Any, ...] | None = None
    """What the keys show now: ``_layout()`` at the last compose or in-place update."""
    _check_queued = False

    def compose(self) -> ComposeResult:
        self._shown = self._layout() if self._bindings_ready else None
        yield from super().compose()

    def watch_compact(self, compact: bool) -> None:
        # keys mounted by _update_in_place are not data-bound to the footer as composed ones are
        for key in self.query_children(FooterKey):
            key.compact = compact

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._check_queued:
            # a burst of focus changes: one look after the refresh
            self._check_queued = self.call_after_refresh(self._follow_bindings)

    async def _follow_bindings(self) -> None:
        self._check_queued = False
        if not self.is_attached:
            return
        layout = self._layout()
        if layout == self._shown:
            return
        if self._shown is not None and self._can_update_in_place(layout):
            await self._update_in_place(layout)
            return
        await self.recompose()

    def _layout(self) -> tuple[Any, ...]:
        """Everything ``compose`` reads: the shown keys in order, and the settings around them."""
        active = self.screen.active_bindings
        keys = tuple(self._key_shown(binding, enabled, tooltip) for (_, binding, enabled, tooltip) in active.values() if binding.show)
        # grouped bindings (Binding.Group) and several keys of one action need compose's layout
        plain = all(binding.group is None for (_, binding, _, _) in active.values() if binding.show)
        plain = plain and len({key[3] for key in keys}) == len(keys)
        palette = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE and self.app.COMMAND_PALETTE_BINDING in active:
            _, binding, enabled, _ = active[self.app.COMMAND_PALETTE_BINDING]
            palette = self._key_shown(binding, enabled, binding.tooltip or binding.description)
        return (keys, plain, palette, self.compact)

    def _key_shown(self, binding: Binding, enabled: bool, tooltip: str) -> KeyShown:
        return (binding.key, self.app.get_key_display(binding), binding.description, binding.action, enabled, tooltip)

    def _can_update_in_place(self, layout: tuple[Any, ...]) -> bool:
        assert self._shown is not None
        _keys, plain, palette, compact = layout
        _old_keys, old_plain, old_palette, old_compact = self._shown
        return plain and old_plain and palette == old_palette and compact == old_compact

    async def _update_in_place(self, layout: tuple[Any, ...]) -> None:
        keys: tuple[KeyShown, ...] = layout[0]
        widgets = [child for child in self.children if isinstance(child, FooterKey) and not child.has_class("-command-palette")]
        for widget, shown in zip(widgets, keys, strict=False):
            self._set_key(widget, shown)
            if not widget.display:
                widget.display = True
        # Keys not needed now are hidden, not removed: an Input's focus hides most of the keys,
        # and the next focus move shows them again (mounting a key costs far more than showing it).
        for widget in widgets[len(keys):]:
            if widget.display:
                widget.display = False
        if len(keys) > len(widgets):
            new = [self._new_key(shown) for shown in keys[len(widgets):]]
            palette_key = next((c for c in self.children if c.has_class("-command-palette")), None)
            await self.mount_all(new, before=palette_key) if palette_key is not None else await self.mount_all(new)
        self._shown = layout

    @staticmethod
    def _set_key(widget: FooterKey, shown: KeyShown) -> None:
        key, key_display, description, action, enabled, tooltip = shown
        if (widget.key, widget.key_display, widget.description, widget.action, not widget._disabled, widget.tooltip or "") == shown:
            return
        widget.key, widget.key_display, widget.description, widget.action = key, key_display, description, action
        widget._disabled = not enabled
        widget.set_class(not enabled, "-disabled")
        widget.tooltip = tooltip or None
        widget.refresh(layout=True)  # its width follows the text

    def _new_key(self, shown: KeyShown) -> FooterKey:
        key, key_display, description, action, enabled, tooltip = shown
        widget = FooterKey(key, key_display, description, action, disabled=not enabled, tooltip=tooltip)
        # as compose's data_bind would, without a style update of a widget not yet mounted
        widget.set_reactive(FooterKey.compact, self.compact)
        widget.set_class(self.compact, "-compact", update=False)
        return widget
