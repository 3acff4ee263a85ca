; Inno Setup script of GPT Group for Windows (https://jrsoftware.org/isinfo.php).
; Build the bundle first (`pyinstaller --noconfirm build.spec`, giving dist\gptgroup\),
; then: iscc /DAppVersion=0.1.0 installers\windows\gptgroup.iss
; The result is dist\GPTGroup-<version>-setup.exe: a per-user install by default (no
; administrator rights needed), a Start menu entry, an optional desktop icon, and an
; uninstaller that removes everything it installed. Built and checked by
; .github/workflows/installers.yml on a Windows runner; not built on Linux.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z installers\windows\gptgroup.iss
#endif

#define AppName "GPT Group"
#define AppExe "gptgroup.exe"

[Setup]
; A fixed id: later versions update this installation instead of adding a second one.
AppId={{6A0E3C52-9B7D-4C55-A4B8-2F1D0E7C9A31}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=GPTGroup-{#AppVersion}-setup
SetupIconFile=..\..\build\pyinstaller\build\icons\gptgroup.ico
UninstallDisplayIcon={app}\{#AppExe}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\gptgroup\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
