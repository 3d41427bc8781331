-- Drives Neovim's built-in LSP client (0.7+) against `cnnc lsp`, headless, and writes what the
-- editor saw to $CNNC_NVIM_OUT as JSON for Tests/cnncTests/NeovimTests.swift to check.
-- Run: nvim --headless -u NONE -i NONE -n -c "luafile Tests/Editor/nvim-lsp.lua"
-- with CNNC_BIN (the cnnc executable), CNNC_NVIM_EXAMPLE (a valid spec), CNNC_NVIM_BROKEN
-- (Tests/Editor/broken.yaml or a copy) and CNNC_NVIM_OUT set.
local out = assert(os.getenv('CNNC_NVIM_OUT'), 'CNNC_NVIM_OUT not set')
local results = { nvim = tostring(vim.version().major) .. '.' .. tostring(vim.version().minor) }
local timeout = 20000

local function line_of(buf, needle)
  for i, text in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    if text:find(needle, 1, true) then return i - 1, text end
  end
  error('no line contains ' .. needle)
end

local function request(client_id, buf, method, params)
  local responses, err = vim.lsp.buf_request_sync(buf, method, params, timeout)
  assert(responses, method .. ': ' .. tostring(err))
  local response = assert(responses[client_id], method .. ': no response from cnnc')
  assert(not response.err, method .. ': ' .. vim.inspect(response.err))
  return response.result
end

local function run()
  local published = {}
  local client_id = vim.lsp.start_client({
    name = 'cnnc',
    cmd = { assert(os.getenv('CNNC_BIN'), 'CNNC_BIN not set'), 'lsp' },
    root_dir = vim.fn.getcwd(),
    handlers = {
      ['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
        published[result.uri] = (published[result.uri] or 0) + 1
        return vim.lsp.diagnostic.on_publish_diagnostics(err, result, ctx, config)
      end,
    },
  })
  assert(client_id, 'vim.lsp.start_client failed')

  local function open(path)
    vim.cmd('edit ' .. vim.fn.fnameescape(path))
    local buf = vim.api.nvim_get_current_buf()
    assert(vim.lsp.buf_attach_client(buf, client_id), 'buf_attach_client failed')
    local uri = vim.uri_from_bufnr(buf)
    assert(vim.wait(timeout, function() return (published[uri] or 0) > 0 end, 10), 'no diagnostics for ' .. path)
    return buf, uri
  end

  -- Wait until the server has published for `uri` more than `count` times.
  local function republished(uri, count)
    assert(vim.wait(timeout, function() return (published[uri] or 0) > count end, 10), 'no new diagnostics')
  end

  -- 1. The broken spec: diagnostics as the editor shows them.
  local buf, uri = open(assert(os.getenv('CNNC_NVIM_BROKEN'), 'CNNC_NVIM_BROKEN not set'))
  results.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(results.diagnostics, {
      line = d.lnum, col = d.col, end_col = d.end_col, message = d.message, severity = d.severity, source = d.source,
    })
  end

  -- 2. Quick fixes: Conv3D → Conv2D and kernal_size → kernel_size, applied as the editor would.
  results.fixes = {}
  for _, word in ipairs({ 'Conv3D', 'kernal_size' }) do
    local line, text = line_of(buf, word)
    local column = text:find(word, 1, true) - 1
    local actions = request(client_id, buf, 'textDocument/codeAction', {
      textDocument = { uri = uri },
      range = { start = { line = line, character = column }, ['end'] = { line = line, character = column } },
      context = { diagnostics = {} },  -- cnnc finds the diagnostics at the range itself
    })
    local titles = {}
    for _, action in ipairs(actions or {}) do table.insert(titles, action.title) end
    local count = published[uri]
    local action = assert((actions or {})[1], 'no code action for ' .. word)
    vim.lsp.util.apply_workspace_edit(action.edit, 'utf-16')
    republished(uri, count)
    table.insert(results.fixes, {
      word = word, titles = titles,
      fixed = vim.api.nvim_buf_get_lines(buf, line, line + 1, false)[1],
      diagnostics_after = #vim.diagnostic.get(buf),
    })
  end

  -- 3. A valid example: no diagnostics, hover, completion, inlay hints (requested directly:
  --    Neovim 0.7 does not display them).
  local ebuf, euri = open(assert(os.getenv('CNNC_NVIM_EXAMPLE'), 'CNNC_NVIM_EXAMPLE not set'))
  results.example_diagnostics = #vim.diagnostic.get(ebuf)
  local conv, conv_text = line_of(ebuf, '- Conv2D:')
  local hover = request(client_id, ebuf, 'textDocument/hover',
    { textDocument = { uri = euri }, position = { line = conv, character = 6 } })
  results.hover = hover and hover.contents and hover.contents.value
  local key_column = conv_text:find('kernel_size', 1, true)
  local key_hover = request(client_id, ebuf, 'textDocument/hover',
    { textDocument = { uri = euri }, position = { line = conv, character = key_column } })
  results.key_hover = key_hover and key_hover.contents and key_hover.contents.value
  local hints = request(client_id, ebuf, 'textDocument/inlayHint', {
    textDocument = { uri = euri },
    range = { start = { line = 0, character = 0 }, ['end'] = { line = vim.api.nvim_buf_line_count(ebuf), character = 0 } },
  })
  results.inlay = {}
  for _, hint in ipairs(hints or {}) do table.insert(results.inlay, hint.label) end

  -- Type a new layer line under `layers:` (an incremental change) and ask for completions.
  local function completions_after(text)
    local layers = line_of(ebuf, 'layers:')
    local count = published[euri]
    vim.api.nvim_buf_set_lines(ebuf, layers + 1, layers + 1, false, { text })
    republished(euri, count)
    local result = request(client_id, ebuf, 'textDocument/completion',
      { textDocument = { uri = euri }, position = { line = layers + 1, character = #text } })
    local items = result and (result.items or result) or {}
    local labels = {}
    for _, item in ipairs(items) do table.insert(labels, item.label) end
    count = published[euri]
    vim.api.nvim_buf_set_lines(ebuf, layers + 1, layers + 2, false, {})
    republished(euri, count)
    return labels
  end
  results.layer_completions = completions_after('  - Con')
  results.argument_completions = completions_after('  - Conv2D: {out_channels: 8, ')
  results.example_diagnostics_after_edits = #vim.diagnostic.get(ebuf)

  vim.lsp.stop_client(client_id)
end

local ok, err = xpcall(run, debug.traceback)
results.ok = ok
if not ok then results.error = tostring(err) end
local file = assert(io.open(out, 'w'))
file:write(vim.fn.json_encode(results))
file:close()
vim.cmd('qa!')
