"""The dashboard's stylesheet (grid positions are added per dashboard, scoped to it)."""

STYLE = """<style>
.hub-dashboard { font-family: system-ui, sans-serif; }
.hub-grid { gap: 12px; width: 100%; }
.hub-tile { border: 1px solid #d7dde5; border-radius: 8px; padding: 8px 10px; background: #fff;
            box-sizing: border-box; overflow: hidden; }
.hub-tile-header { border-bottom: 1px solid #eef1f4; margin-bottom: 6px; }
.hub-tile-title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; }
.hub-table { border-collapse: collapse; font-size: 12px; width: 100%; }
.hub-table th, .hub-table td { text-align: left; padding: 2px 6px;
                               border-bottom: 1px solid #f0f0f0; }
.hub-col { font-family: ui-monospace, monospace; word-break: break-all; }
.hub-bar { display: inline-block; height: 8px; background: #b5485d; margin-right: 6px; }
.hub-banner { border: 1px solid #9ec5fe; background: #eef5ff; border-radius: 6px;
              padding: 4px 8px; margin: 4px 0; align-items: center; }
.hub-banner.hub-banner--failed { border-color: #f1aeb5; background: #fff0f2; }
.hub-why-table td { vertical-align: top; }
.hub-tile--pending { border-style: dashed; }
.hub-tile--failed { border-color: #f1aeb5; }
.hub-facts { margin: 0 0 6px 0; padding-left: 18px; font-size: 13px; }
.hub-caveats { margin: 4px 0; padding-left: 18px; font-size: 12px; }
.hub-tile-footer { justify-content: flex-end; }
.hub-actions button.hub-answered { font-size: 11px; }
</style>"""
